// Enters: one alarm state change as the spool holds it (an `alarms` line, parsed), and the device's
// entity id and location. Leaves: the attributes of a Smart Data Models `Alert` with a stable id per
// alarm (the alarm's id, the same from raise to clear), so every change updates one entity.
import type { NgsiAttributes } from '../../devices/ngsi-models.ts'
import type { ParsedLine } from './line-parse.ts'

/** The model's severities: critical, high, medium, low, informational. */
const SEVERITY: Readonly<Record<string, string>> = { critical: 'critical', major: 'high', minor: 'medium', warning: 'low' }

/** The model's categories per kind: a dark street and an open well are hazards to people, water is the environment. */
export const ALERT_CATEGORY: Readonly<Record<string, string>> = { 'lamp-post': 'security', 'water-pipe': 'environment', manhole: 'security' }

/**
 * The model's subcategories for the alarm types that have one; other types leave subCategory out
 * (the model's list is closed) and are named in `data.alarmType` like every alarm.
 */
export const ALERT_SUB_CATEGORY: Readonly<Record<string, string>> = {
  poleTilt: 'hazardOnRoad',
  coverOpen: 'hazardOnRoad',
  doorOpen: 'hazardOnRoad',
  highWater: 'flood',
  burstSuspected: 'flood',
  leakSuspected: 'flood',
  phOutOfRange: 'waterPollution',
  turbidity: 'waterPollution',
  chlorineHigh: 'waterPollution',
  chlorineLow: 'waterPollution',
  gearOverTemp: 'highTemperature',
}

export function alertIdOf (alarmId: string): string {
  return `urn:ngsi-ld:Alert:${alarmId}`
}

/** Attributes of the Alert for this change; undefined for a line that is not a whole alarm change. */
export function alertAttributesOf (line: ParsedLine, deviceEntityId: string): { alarmId: string, attributes: NgsiAttributes } | undefined {
  const { tags, fields } = line
  const alarmId = fields.alarm_id
  const state = fields.state
  if (typeof alarmId !== 'string' || alarmId === '' || typeof state !== 'string' || tags.type === undefined || tags.kind === undefined) return undefined
  const at = new Date(line.tsMs).toISOString()
  const attributes: NgsiAttributes = {
    category: { type: 'Property', value: ALERT_CATEGORY[tags.kind] ?? 'security', observedAt: at },
    severity: { type: 'Property', value: SEVERITY[tags.severity ?? ''] ?? 'informational', observedAt: at },
    alertSource: { type: 'Relationship', object: deviceEntityId, observedAt: at },
    description: { type: 'Property', value: typeof fields.message === 'string' ? fields.message : '', observedAt: at },
    data: { type: 'Property', value: dataOf(line), observedAt: at },
  }
  const subCategory = ALERT_SUB_CATEGORY[tags.type]
  if (subCategory !== undefined) attributes.subCategory = { type: 'Property', value: subCategory, observedAt: at }
  // When the alarm was raised: the raise itself, or counted back from the seconds a later change carries.
  const raisedMs = fields.change === 'raised' ? line.tsMs
    : typeof fields.clear_sec === 'number' ? line.tsMs - fields.clear_sec * 1000
      : typeof fields.ack_sec === 'number' ? line.tsMs - fields.ack_sec * 1000
        : undefined
  if (raisedMs !== undefined && Number.isFinite(raisedMs)) {
    const raisedAt = new Date(Math.round(raisedMs)).toISOString()
    attributes.dateIssued = { type: 'Property', value: raisedAt, observedAt: raisedAt }
    attributes.validFrom = { type: 'Property', value: raisedAt, observedAt: raisedAt }
  }
  if (state === 'cleared') attributes.validTo = { type: 'Property', value: at, observedAt: at }
  return { alarmId, attributes }
}

function dataOf (line: ParsedLine): Record<string, unknown> {
  const { tags, fields } = line
  const data: Record<string, unknown> = { alarmType: tags.type, state: fields.state, change: fields.change }
  if (typeof fields.value === 'number') data.value = fields.value
  if (typeof fields.threshold === 'number') data.threshold = fields.threshold
  // Who acknowledged is personal data (sealed at rest) and not for other departments: never exported.
  return data
}
