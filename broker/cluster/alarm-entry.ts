// One alarm as the cluster keeps it in the ALARMS_BUCKET, and how one node's change is laid over
// the bucket's current version of it. Pure: the compare-and-set around it is alarm-sync.ts.
import { z } from 'zod'
import { SEVERITY_RANK } from '../../devices/define-rule.ts'
import { openAlarmSchema, type AlarmEvent, type OpenAlarm } from '../alarms/alarm.ts'
import { kvKeyOf, nameOfKvKey } from './kv-key.ts'

/** The value under an alarm's key: the open (or last cleared) alarm, the change that made it and who made it. */
export const storedAlarmSchema = openAlarmSchema.extend({
  change: z.enum(['raised', 'escalated', 'overdue', 'acknowledged', 'cleared', 'flapping', 'unflapping']),
  /** The node run that wrote it (`<NODE_NAME>#<random>`): tells a node its own changes on the watch. */
  writer: z.string(),
})
export type StoredAlarm = z.infer<typeof storedAlarmSchema>

/** `<base64url(deviceId)>.<type>` (kv-key.ts): rule types are plain identifiers. */
export function alarmKey (deviceId: string, type: string): string {
  return `${kvKeyOf(deviceId)}.${type}`
}

/** The device id and type of a key made by alarmKey; undefined for any other key. */
export function parseAlarmKey (key: string): { deviceId: string, type: string } | undefined {
  const dot = key.indexOf('.')
  if (dot <= 0 || dot === key.length - 1) return undefined
  return { deviceId: nameOfKvKey(key.slice(0, dot)), type: key.slice(dot + 1) }
}

export type MergeOutcome =
  | { write: true, event: AlarmEvent, entry: OpenAlarm }
  | { write: false, reason: 'superseded' | 'already_acknowledged' | 'not_found' }

/**
 * The version to write for `proposed` (a change the local engine made) over `current` (the
 * bucket's version; undefined when the key is missing or deleted). A raise takes an empty or
 * cleared slot; every other change applies only to the alarm it was made on (same id) while that
 * is open, and takes from the proposal only what it changes — whatever else another node changed
 * meanwhile (an acknowledgement, an escalation) is kept. A raise or escalation that does not apply
 * is dropped: the device's next reading on its node re-evaluates the rule.
 */
export function mergeChange (proposed: AlarmEvent, current: OpenAlarm | undefined): MergeOutcome {
  const p = proposed.alarm
  const open = current !== undefined && current.alarm.state !== 'cleared' ? current : undefined
  if (proposed.change === 'raised') {
    if (open !== undefined) return { write: false, reason: 'superseded' }
    return { write: true, event: { change: 'raised', alarm: p }, entry: { alarm: p, captured: { ...proposed.captured } } }
  }
  const same = open !== undefined && open.alarm.id === p.id ? open : undefined
  switch (proposed.change) {
    case 'escalated': {
      if (same === undefined || SEVERITY_RANK[p.severity] <= SEVERITY_RANK[same.alarm.severity]) return { write: false, reason: 'superseded' }
      const alarm = { ...same.alarm, severity: p.severity, state: 'active' as const, value: p.value, threshold: p.threshold, message: p.message, updatedAt: p.updatedAt, ...(p.ackDueAt === undefined ? {} : { ackDueAt: p.ackDueAt }) }
      return { write: true, event: { change: 'escalated', alarm }, entry: { alarm, captured: same.captured } }
    }
    case 'overdue': {
      // One step per deadline across the cluster: a step another node already wrote (or an acknowledgement) wins.
      if (same === undefined || same.alarm.state !== 'active' || (same.alarm.escalation ?? 0) >= (p.escalation ?? 0)) return { write: false, reason: 'superseded' }
      const alarm = { ...same.alarm, escalation: p.escalation, ...(p.ackDueAt === undefined ? {} : { ackDueAt: p.ackDueAt }), updatedAt: p.updatedAt }
      return { write: true, event: { change: 'overdue', alarm }, entry: { alarm, captured: same.captured } }
    }
    case 'acknowledged': {
      if (same === undefined) return { write: false, reason: 'not_found' }
      if (same.alarm.state === 'acknowledged') return { write: false, reason: 'already_acknowledged' }
      // The note of an earlier acknowledgement (before an escalation) does not carry over to this one.
      const { ackNote: _earlierNote, ackDueAt: _deadline, ...earlier } = same.alarm
      const alarm = { ...earlier, state: 'acknowledged' as const, ackedBy: p.ackedBy, ...(p.ackedAt === undefined ? {} : { ackedAt: p.ackedAt }), ...(p.ackNote === undefined ? {} : { ackNote: p.ackNote }), updatedAt: p.updatedAt }
      return { write: true, event: { change: 'acknowledged', alarm }, entry: { alarm, captured: same.captured } }
    }
    case 'flapping':
    case 'unflapping': {
      // Kept open as flapping (or about to clear after its quiet window): only the flag and the time change.
      if (same === undefined) return { write: false, reason: 'superseded' }
      const alarm = { ...same.alarm, ...(proposed.change === 'flapping' ? { flapping: true } : {}), updatedAt: p.updatedAt }
      return { write: true, event: { change: proposed.change, alarm }, entry: { alarm, captured: same.captured } }
    }
    case 'cleared': {
      if (same === undefined) return { write: false, reason: 'superseded' }
      const alarm = { ...same.alarm, state: 'cleared' as const, value: p.value, message: p.message, updatedAt: p.updatedAt, ...(p.clearedAt === undefined ? {} : { clearedAt: p.clearedAt }) }
      return { write: true, event: { change: 'cleared', alarm }, entry: { alarm, captured: same.captured } }
    }
  }
}
