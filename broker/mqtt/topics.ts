// The gateway's topic names (README "For devices", "For maintenance crews"): parse and format
// `devices/{id}/…` and `alarms/{district}/…`.
// Per-device topic strings are built once at CONNECT (deviceTopics); per-message code compares.

export interface DeviceTopics {
  readonly telemetry: string
  readonly status: string
  readonly errors: string
  /** Prefix of the command topics the device may subscribe to: `devices/{id}/commands/`. */
  readonly commandsPrefix: string
}

export function deviceTopics (deviceId: string): DeviceTopics {
  const base = `devices/${deviceId}/`
  return Object.freeze({
    telemetry: `${base}telemetry`,
    status: `${base}status`,
    errors: `${base}errors`,
    commandsPrefix: `${base}commands/`,
  })
}

/** May a device with these topics subscribe to this filter? Its errors and commands only. */
export function isOwnSubscription (topics: DeviceTopics, filter: string): boolean {
  if (filter === topics.errors) return true
  // Any filter below the prefix, wildcards included, matches only this device's commands.
  return filter.startsWith(topics.commandsPrefix) && filter.length > topics.commandsPrefix.length
}

export interface AlarmTopic {
  district: string
  kind: string
  deviceId: string
  type: string
}

export function formatAlarmTopic (alarm: AlarmTopic): string {
  return `alarms/${alarm.district}/${alarm.kind}/${alarm.deviceId}/${alarm.type}`
}

/** `alarms/{district}/{kind}/{deviceId}/{type}/ack` → its parts, or undefined for anything else. */
export function parseAckTopic (topic: string): AlarmTopic | undefined {
  const parts = topic.split('/')
  if (parts.length !== 6 || parts[0] !== 'alarms' || parts[5] !== 'ack') return undefined
  const [, district, kind, deviceId, type] = parts as [string, string, string, string, string, string]
  if (district === '' || kind === '' || deviceId === '' || type === '') return undefined
  return { district, kind, deviceId, type }
}

/**
 * May a crew subscribe to this filter? Crews without districts: anything under `alarms/`.
 * Crews with districts: only filters whose second level is one of their districts (no wildcard).
 */
export function isCrewSubscriptionAllowed (districts: readonly string[] | undefined, filter: string): boolean {
  if (filter !== 'alarms/#' && !filter.startsWith('alarms/')) return false
  if (districts === undefined) return true
  const district = filter.split('/')[1]
  return district !== undefined && district !== '+' && district !== '#' && districts.includes(district)
}

/** Where crews get an incident: `incidents/{district}/{incidentId}`. */
export function formatIncidentTopic (incident: { district: string; id: string }): string {
  return `incidents/${incident.district}/${incident.id}`
}

export function formatIncidentAckTopic (incident: { district: string; id: string }): string {
  return `${formatIncidentTopic(incident)}/ack`
}

/** `incidents/{district}/{incidentId}/ack` → its parts, or undefined for anything else. */
export function parseIncidentAckTopic (topic: string): { district: string; incidentId: string } | undefined {
  const parts = topic.split('/')
  if (parts.length !== 4 || parts[0] !== 'incidents' || parts[3] !== 'ack') return undefined
  const [, district, incidentId] = parts as [string, string, string, string]
  if (district === '' || incidentId === '') return undefined
  return { district, incidentId }
}

/** May a crew subscribe to this incidents filter? The same district rule as for `alarms/`. */
export function isCrewIncidentSubscriptionAllowed (districts: readonly string[] | undefined, filter: string): boolean {
  if (filter !== 'incidents/#' && !filter.startsWith('incidents/')) return false
  if (districts === undefined) return true
  const district = filter.split('/')[1]
  return district !== undefined && district !== '+' && district !== '#' && districts.includes(district)
}

/** Where an alarm escalated to a crew by the rules file goes: `escalations/{crew}/{district}/{kind}/{deviceId}/{type}`. */
export function formatEscalationTopic (crew: string, alarm: AlarmTopic): string {
  return `escalations/${crew}/${alarm.district}/${alarm.kind}/${alarm.deviceId}/${alarm.type}`
}

/** May a crew subscribe to (or receive on) this filter as its own escalations? Only below `escalations/{its name}/`. */
export function isOwnEscalationFilter (crew: string, filter: string): boolean {
  return filter.startsWith('escalations/') && filter.length > 13 + crew.length && filter.startsWith(`escalations/${crew}/`)
}

/**
 * Which topic limit a topic name or filter exceeds, if any: its UTF-8 length in bytes or its number
 * of levels. Checked before any ACL matching, so hostile topics cost little.
 */
export function topicLimitExceeded (topic: string, maxBytes: number, maxLevels: number): 'topic_length' | 'topic_depth' | undefined {
  // A UTF-8 character is at most 3 bytes per UTF-16 unit; measure exactly only near the limit.
  if (topic.length > maxBytes || (topic.length * 3 > maxBytes && Buffer.byteLength(topic) > maxBytes)) return 'topic_length'
  let levels = 1
  for (let i = topic.indexOf('/'); i !== -1; i = topic.indexOf('/', i + 1)) {
    if (++levels > maxLevels) return 'topic_depth'
  }
  return undefined
}
