// Incidents instead of alarm storms: when enough devices of one group raise the same alarm type
// (deviceOffline and supplyLoss count as one family) within the rules file's window, crews get one
// incident on `incidents/{district}/{id}` instead of one alarm per device. Alarms that join an open
// incident carry `incident: <id>` and are recorded as usual but not pushed on their own; those
// pushed before the threshold was reached stay as they are. Acknowledging the incident
// acknowledges its active members; it closes when every member has cleared.
import { randomUUID } from 'node:crypto'
import type { Logger } from '../log.ts'
import type { BrokerOut } from '../mqtt/broker-out.ts'
import { formatIncidentAckTopic, formatIncidentTopic } from '../mqtt/topics.ts'
import { SEVERITY_RANK } from '../../devices/define-rule.ts'
import type { AlarmEvent, AlarmRecord } from './alarm.ts'
import { incidentSchema, type Incident } from './incident-record.ts'
import type { SavedIncidents } from './incident-file.ts'
import { incidentThreshold, type IncidentRules } from './incident-rules.ts'
import type { MailRequest } from './mail/mail-message.ts'

export { incidentSchema, type Incident }

/** Alarm types that one cause (a feeder losing power) raises together: one incident family. */
const SUPPLY_FAMILY = 'supplyLoss'
const FAMILY_OF: Readonly<Record<string, string>> = { supplyLoss: SUPPLY_FAMILY, deviceOffline: SUPPLY_FAMILY }

/** The incident type an alarm type counts towards. */
export function familyOf (type: string): string {
  return FAMILY_OF[type] ?? type
}

/** Least time between two publishes of an open incident: new members are coalesced meanwhile. */
export const INCIDENT_UPDATE_MIN_MS = 2000

/** An incident's message to crews: retained while open; when closed, published once and the retained one removed. */
export async function publishIncident (out: Pick<BrokerOut, 'publish' | 'removeRetained'>, record: Incident): Promise<void> {
  const topic = formatIncidentTopic(record)
  const payload = Buffer.from(JSON.stringify(record))
  if (record.state === 'closed') {
    await out.publish(topic, payload, false)
    await out.removeRetained(topic)
  } else {
    await out.publish(topic, payload, true)
  }
}
/** Closed incidents `list()` keeps. */
export const RECENT_CLOSED = 200

export type IncidentAckOutcome =
  | { ok: true; incident: Incident }
  | { ok: false; reason: 'not_found' | 'forbidden' | 'closed' }

export interface Incidents {
  /** Before delivery: notes raises and clears, opens incidents, stamps `incident` on alarms that join one. */
  classify(events: readonly AlarmEvent[], nowMs: number): void
  /** Whether a change goes to crews on its own: not for an alarm that joined an incident. */
  shouldPush(event: AlarmEvent): boolean
  /** Acknowledges an open incident and its active members for a crew of `districts` (undefined = all). */
  acknowledge(crew: string, districts: readonly string[] | undefined, incidentId: string, note: string | undefined, nowMs: number): Promise<IncidentAckOutcome>
  /** Open incidents, then recently closed ones (newest first). */
  list(): Incident[]
  /** What DATA_DIR/incidents.json holds: open incidents with their cleared members, and the closed ones. */
  snapshot(): SavedIncidents
  /** Puts the retained message of each open incident back (after a restart: the broker keeps them in memory only). */
  restoreRetained(): Promise<void>
  close(): Promise<void>
}

export interface IncidentsOptions {
  rules: () => IncidentRules
  groupOf(deviceId: string): string | undefined
  /** Registered devices of a group. */
  groupSize(group: string): number
  /** Acknowledges one member alarm (engine and delivery); false when it was not active. */
  acknowledgeMember(crew: string, alarm: AlarmRecord, note: string | undefined): Promise<boolean>
  out: BrokerOut
  log: Logger
  mail?: ((request: MailRequest) => void) | undefined
  /** Incidents saved before a restart. */
  saved?: SavedIncidents | undefined
  /** Whether an alarm (by id) is still open: a member that cleared while the gateway was down counts as cleared. */
  isAlarmOpen?: ((alarmId: string) => boolean) | undefined
  /** After every change of an incident (the caller saves them). */
  onChange?: (() => void) | undefined
}

interface RecentRaise {
  readonly deviceId: string
  readonly alarmId: string
  readonly severity: AlarmRecord['severity']
  readonly atMs: number
}

interface Member {
  readonly alarm: Pick<AlarmRecord, 'id' | 'deviceId' | 'type'>
  isCleared: boolean
}

interface OpenIncident {
  record: Incident
  readonly key: string
  readonly members: Map<string, Member> // by alarm id
  lastPublishMs: number
  timer: NodeJS.Timeout | undefined
  /** Publishes of this incident in order. */
  chain: Promise<void>
}

export function createIncidents (options: IncidentsOptions): Incidents {
  const log = options.log.child({ module: 'incidents' })
  /** Raises not (yet) in an incident, by group key, oldest first. */
  const recent = new Map<string, RecentRaise[]>()
  const openByKey = new Map<string, OpenIncident>()
  const byId = new Map<string, OpenIncident>()
  /** Alarm id → the open incident it belongs to (members pushed before the threshold too). */
  const byAlarm = new Map<string, OpenIncident>()
  const closed: Incident[] = []
  const changed = options.onChange ?? function unsaved () {}

  function keyOf (alarm: AlarmRecord, group: string): string {
    return `${alarm.district}\n${group}\n${FAMILY_OF[alarm.type] ?? alarm.type}`
  }

  function publish (incident: OpenIncident): void {
    changed()
    clearTimeout(incident.timer)
    incident.timer = undefined
    incident.lastPublishMs = Date.now()
    const record = incident.record
    incident.chain = incident.chain.then(function send () { return publishIncident(options.out, record) }).catch(function notPublished (err: unknown) {
      log.error({ err, incidentId: record.id }, 'incident not published over MQTT')
    })
  }

  /** An update goes out at once when the last one is old enough, else once the interval has passed. */
  function publishSoon (incident: OpenIncident): void {
    changed()
    if (incident.timer !== undefined) return
    const waitMs = incident.lastPublishMs + INCIDENT_UPDATE_MIN_MS - Date.now()
    if (waitMs <= 0) {
      publish(incident)
      return
    }
    incident.timer = setTimeout(function coalesced () { publish(incident) }, waitMs)
    incident.timer.unref()
  }

  function open (key: string, group: string, alarm: AlarmRecord, raises: readonly RecentRaise[], nowMs: number): OpenIncident {
    const at = new Date(nowMs).toISOString()
    let severity = alarm.severity
    for (const r of raises) if (SEVERITY_RANK[r.severity] > SEVERITY_RANK[severity]) severity = r.severity
    const record: Incident = {
      id: randomUUID(),
      type: FAMILY_OF[alarm.type] ?? alarm.type,
      group,
      district: alarm.district,
      severity,
      members: [],
      openedAt: at,
      updatedAt: at,
      state: 'open',
    }
    const incident: OpenIncident = { record, key, members: new Map(), lastPublishMs: 0, timer: undefined, chain: Promise.resolve() }
    openByKey.set(key, incident)
    byId.set(record.id, incident)
    for (const r of raises) addMember(incident, { id: r.alarmId, deviceId: r.deviceId, type: alarm.type })
    return incident
  }

  function addMember (incident: OpenIncident, alarm: Pick<AlarmRecord, 'id' | 'deviceId' | 'type'>): void {
    if (incident.members.has(alarm.id)) return
    incident.members.set(alarm.id, { alarm: { id: alarm.id, deviceId: alarm.deviceId, type: alarm.type }, isCleared: false })
    byAlarm.set(alarm.id, incident)
    incident.record = { ...incident.record, members: [...incident.record.members, { deviceId: alarm.deviceId, alarmId: alarm.id }] }
  }

  function onRaised (alarm: AlarmRecord, nowMs: number): void {
    const rules = options.rules()
    const group = options.groupOf(alarm.deviceId)
    if (group === undefined) return
    const key = keyOf(alarm, group)
    const current = openByKey.get(key)
    if (current !== undefined) {
      // Joins the open incident: the record is the engine's open entry, so later changes keep the stamp.
      alarm.incident = current.record.id
      addMember(current, alarm)
      const severity = SEVERITY_RANK[alarm.severity] > SEVERITY_RANK[current.record.severity] ? alarm.severity : current.record.severity
      // A new member wants attention again.
      const { ackedBy: _ackedBy, ...rest } = current.record
      current.record = { ...rest, severity, state: 'open', updatedAt: new Date(nowMs).toISOString() }
      log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, incidentId: current.record.id, members: current.members.size, reason: 'joined' }, 'alarm joined an incident')
      publishSoon(current)
      return
    }
    if (!rules.enabled) return
    const sinceMs = nowMs - rules.windowMs
    const raises = (recent.get(key) ?? []).filter(function inWindow (r) { return r.atMs >= sinceMs && r.deviceId !== alarm.deviceId })
    raises.push({ deviceId: alarm.deviceId, alarmId: alarm.id, severity: alarm.severity, atMs: nowMs })
    if (raises.length < incidentThreshold(rules, options.groupSize(group))) {
      recent.set(key, raises)
      return
    }
    recent.delete(key)
    const incident = open(key, group, alarm, raises, nowMs)
    // The raise that reached the threshold is the first one crews do not get on its own.
    alarm.incident = incident.record.id
    log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, incidentId: incident.record.id, group, district: alarm.district, type: incident.record.type, members: incident.members.size, reason: 'threshold_reached' }, 'incident opened')
    publish(incident)
    options.mail?.({ kind: 'incident', incident: { ...incident.record, ackTopic: formatIncidentAckTopic(incident.record) } })
  }

  function onCleared (alarm: AlarmRecord, nowMs: number): void {
    // A raise that cleared before the threshold was reached is no storm member: taken in, it would never clear.
    for (const [key, raises] of recent) {
      const left = raises.filter(function notCleared (r) { return r.alarmId !== alarm.id })
      if (left.length === 0) recent.delete(key)
      else if (left.length !== raises.length) recent.set(key, left)
    }
    const incident = byAlarm.get(alarm.id)
    if (incident === undefined) return
    const member = incident.members.get(alarm.id)
    if (member === undefined || member.isCleared) return
    member.isCleared = true
    changed()
    for (const m of incident.members.values()) if (!m.isCleared) return
    closeIncident(incident, alarm.deviceId, 'members_cleared', nowMs)
  }

  function closeIncident (incident: OpenIncident, deviceId: string | undefined, reason: string, nowMs: number): void {
    const at = new Date(nowMs).toISOString()
    incident.record = { ...incident.record, state: 'closed', closedAt: at, updatedAt: at }
    openByKey.delete(incident.key)
    byId.delete(incident.record.id)
    for (const id of incident.members.keys()) byAlarm.delete(id)
    closed.unshift(incident.record)
    if (closed.length > RECENT_CLOSED) closed.pop()
    log.info({ deviceId, incidentId: incident.record.id, members: incident.members.size, reason }, 'incident closed')
    publish(incident)
  }

  /** Takes the incidents saved before a restart back; one whose members all cleared meanwhile closes. */
  function restore (saved: SavedIncidents): void {
    closed.push(...saved.closed.slice(0, RECENT_CLOSED))
    const isOpen = options.isAlarmOpen ?? function assumeOpen () { return true }
    for (const entry of saved.open) {
      const record = entry.incident
      const key = `${record.district}\n${record.group}\n${record.type}`
      const incident: OpenIncident = { record, key, members: new Map(), lastPublishMs: 0, timer: undefined, chain: Promise.resolve() }
      const cleared = new Set(entry.cleared)
      for (const m of record.members) {
        incident.members.set(m.alarmId, { alarm: { id: m.alarmId, deviceId: m.deviceId, type: record.type }, isCleared: cleared.has(m.alarmId) || !isOpen(m.alarmId) })
        byAlarm.set(m.alarmId, incident)
      }
      openByKey.set(key, incident)
      byId.set(record.id, incident)
      if ([...incident.members.values()].every(function isDone (m) { return m.isCleared })) closeIncident(incident, undefined, 'members_cleared_while_down', Date.now())
    }
  }
  if (options.saved !== undefined) restore(options.saved)

  return {
    classify (events, nowMs) {
      for (const event of events) {
        // A raise under a maintenance window is expected work, not part of a storm.
        if (event.change === 'raised') {
          if (event.alarm.maintenance === undefined) onRaised(event.alarm, nowMs)
        } else if (event.change === 'cleared') onCleared(event.alarm, nowMs)
      }
    },
    shouldPush (event) {
      return event.alarm.incident === undefined
    },
    async acknowledge (crew, districts, incidentId, note, nowMs) {
      const incident = byId.get(incidentId)
      if (incident === undefined) {
        const done = closed.find(function byIncidentId (i) { return i.id === incidentId })
        if (done !== undefined && (districts === undefined || districts.includes(done.district))) return { ok: false, reason: 'closed' }
        return { ok: false, reason: 'not_found' }
      }
      if (districts !== undefined && !districts.includes(incident.record.district)) return { ok: false, reason: 'forbidden' }
      const members = [...incident.members.values()].filter(function stillOpen (m) { return !m.isCleared })
      const outcomes = await Promise.all(members.map(function ackMember (m) { return options.acknowledgeMember(crew, m.alarm as AlarmRecord, note) }))
      const acked = outcomes.filter(Boolean).length
      const at = new Date(nowMs).toISOString()
      if (incident.record.state !== 'closed') {
        incident.record = { ...incident.record, state: 'acknowledged', ackedBy: crew, updatedAt: at }
        publishSoon(incident)
      }
      log.info({ deviceId: members[0]?.alarm.deviceId, incidentId, acknowledgedMembers: acked, reason: 'crew_ack' }, 'incident acknowledged')
      return { ok: true, incident: incident.record }
    },
    list () {
      return [...[...byId.values()].map(function recordOf (i) { return i.record }), ...closed]
    },
    snapshot () {
      const open = [...byId.values()].map(function savedOf (i) {
        const cleared: string[] = []
        for (const [id, m] of i.members) if (m.isCleared) cleared.push(id)
        return { incident: i.record, cleared }
      })
      return { version: 1, open, closed: [...closed] }
    },
    async restoreRetained () {
      for (const incident of byId.values()) {
        if (incident.timer === undefined) publish(incident)
      }
      await Promise.all([...byId.values()].map(function sent (i) { return i.chain }))
      if (byId.size > 0) log.info({ open: byId.size }, 'open incidents restored')
    },
    async close () {
      const pending: Promise<void>[] = []
      for (const incident of byId.values()) {
        if (incident.timer !== undefined) publish(incident)
        pending.push(incident.chain)
      }
      await Promise.all(pending)
    },
  }
}
