// An alarm's history from what is known of it: its `alarms` points read back from InfluxDB, the
// changes this gateway saw since it started (alarm-journal.ts), and its current record from the
// alarms stage. Pure: facts in, one history entry and its timeline out.
import { z } from 'zod'
import { SEVERITY_RANK } from '../../devices/define-rule.ts'
import type { AlarmChange, AlarmEvent, AlarmRecord } from '../alarms/alarm.ts'
import { severitySchema } from '../alarms/alarm.ts'
import type { HistoryEntry, TimelineEvent } from './types.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'

/** One change of one alarm, from wherever it was learnt. */
export interface AlarmFact {
  alarmId: string
  deviceId: string
  kind: string
  district: string
  type: string
  change: AlarmChange
  atMs: number
  severity: AlarmRecord['severity']
  state: AlarmRecord['state']
  message: string
  value?: number
  threshold?: number
  by?: string
  note?: string
  /** The escalation steps so far (overdue: this step's number). */
  escalation?: number
  /** The raise time, when the fact tells it (a stored acknowledgement or clear carries its seconds since the raise). */
  raisedAtMs?: number
}

const CHANGE_ORDER: Record<AlarmChange, number> = { raised: 0, escalated: 1, overdue: 2, flapping: 2.5, acknowledged: 3, unflapping: 3.5, cleared: 4 }

/** The columns of an `alarms` point the history reads (README "InfluxDB"). */
export const ALARM_POINT_COLUMNS = ['alarm_id', 'change', 'state', 'severity', 'device_id', 'district', 'kind', 'type', 'message', 'value', 'threshold', 'acked_by', 'note', 'ack_sec', 'clear_sec', 'escalation'] as const

const optionalNumber = z.number().nullish()
const optionalString = z.string().nullish()
const pointRowSchema = z.object({
  time: z.number(),
  alarm_id: z.string().min(1),
  change: z.enum(['raised', 'escalated', 'overdue', 'acknowledged', 'cleared', 'flapping', 'unflapping']),
  state: z.enum(['active', 'acknowledged', 'cleared']),
  severity: severitySchema,
  device_id: z.string(),
  district: z.string().nullish(),
  kind: z.string(),
  type: z.string(),
  message: z.string(),
  value: optionalNumber,
  threshold: optionalNumber,
  acked_by: optionalString,
  note: optionalString,
  ack_sec: optionalNumber,
  clear_sec: optionalNumber,
  escalation: optionalNumber,
})

/** A sealed field of a point opened; undefined when it does not open (a key no longer held, an altered value). */
function openedField (cipher: FieldCipher | undefined, field: 'ackedBy' | 'ackNote', value: string): string | undefined {
  if (cipher === undefined) return value
  try {
    return cipher.open(field, value)
  } catch {
    return undefined
  }
}

/**
 * A row of ALARM_POINT_COLUMNS as a fact; undefined for a point without alarm_id or one that does not
 * parse. `acked_by` and `note` are opened with `cipher` (stored sealed, README "Personal data at rest").
 */
export function factOfPoint (row: Record<string, unknown>, cipher?: FieldCipher): AlarmFact | undefined {
  const parsed = pointRowSchema.safeParse(row)
  if (!parsed.success) return undefined
  const p = parsed.data
  const fact: AlarmFact = {
    alarmId: p.alarm_id, deviceId: p.device_id, kind: p.kind, district: p.district ?? '', type: p.type,
    change: p.change, atMs: p.time, severity: p.severity, state: p.state, message: p.message,
  }
  if (typeof p.value === 'number') fact.value = p.value
  if (typeof p.threshold === 'number') fact.threshold = p.threshold
  const by = typeof p.acked_by === 'string' ? openedField(cipher, 'ackedBy', p.acked_by) : undefined
  if (by !== undefined) fact.by = by
  const note = typeof p.note === 'string' ? openedField(cipher, 'ackNote', p.note) : undefined
  if (note !== undefined) fact.note = note
  if (typeof p.escalation === 'number') fact.escalation = p.escalation
  const sinceRaise = p.change === 'acknowledged' ? p.ack_sec : p.change === 'cleared' ? p.clear_sec : undefined
  if (typeof sinceRaise === 'number') fact.raisedAtMs = Math.round(p.time - sinceRaise * 1000)
  return fact
}

/** A change the alarms stage delivered, as a fact. */
export function factOfEvent (event: AlarmEvent): AlarmFact {
  const { alarm, change } = event
  const atIso = change === 'raised' ? alarm.raisedAt : change === 'acknowledged' ? alarm.ackedAt ?? alarm.updatedAt : change === 'cleared' ? alarm.clearedAt ?? alarm.updatedAt : alarm.updatedAt
  const fact: AlarmFact = {
    alarmId: alarm.id, deviceId: alarm.deviceId, kind: alarm.kind, district: alarm.district, type: alarm.type,
    change, atMs: Date.parse(atIso), severity: alarm.severity, state: alarm.state, message: alarm.message,
    raisedAtMs: Date.parse(alarm.raisedAt),
  }
  if (Number.isFinite(alarm.value)) fact.value = alarm.value
  if (Number.isFinite(alarm.threshold)) fact.threshold = alarm.threshold
  if (change === 'acknowledged') {
    if (alarm.ackedBy !== undefined) fact.by = alarm.ackedBy
    if (alarm.ackNote !== undefined) fact.note = alarm.ackNote
  }
  if (alarm.escalation !== undefined) fact.escalation = alarm.escalation
  return fact
}

/**
 * What a record alone tells: the change that made it (its state), and the times of the raise and
 * of an acknowledgement it still carries. The last two carry no message: the record does not keep
 * what the alarm said then.
 */
export function factsOfRecord (alarm: AlarmRecord): AlarmFact[] {
  const facts: AlarmFact[] = []
  const made: AlarmChange = alarm.state === 'cleared'
    ? 'cleared'
    : alarm.state === 'acknowledged' ? 'acknowledged' : alarm.updatedAt === alarm.raisedAt ? 'raised' : alarm.escalation !== undefined ? 'overdue' : 'escalated'
  facts.push(factOfEvent({ change: made, alarm }))
  const bare = { alarmId: alarm.id, deviceId: alarm.deviceId, kind: alarm.kind, district: alarm.district, type: alarm.type, message: '' }
  if (made !== 'raised') facts.push({ ...bare, change: 'raised', atMs: Date.parse(alarm.raisedAt), severity: alarm.severity, state: 'active' })
  if (made === 'cleared' && alarm.ackedAt !== undefined) {
    const ack: AlarmFact = { ...bare, change: 'acknowledged', atMs: Date.parse(alarm.ackedAt), severity: alarm.severity, state: 'acknowledged' }
    if (alarm.ackedBy !== undefined) ack.by = alarm.ackedBy
    if (alarm.ackNote !== undefined) ack.note = alarm.ackNote
    facts.push(ack)
  }
  return facts
}

export interface AlarmHistoryParts {
  /** Facts from InfluxDB and from memory, in any order; the same change may come more than once. */
  facts: readonly AlarmFact[]
  /** The alarms stage's record, when it still holds the alarm. */
  record?: AlarmRecord | undefined
}

/**
 * One alarm's entry and timeline, or undefined when nothing is known. A change is the same change
 * whichever source told it: raise and clear happen once per alarm, an escalation or an
 * acknowledgement once per severity (severity only goes up while open, and a second
 * acknowledgement needs an escalation first). What the record alone tells fills only changes no
 * point or event told.
 */
export function buildHistory (parts: AlarmHistoryParts): { entry: HistoryEntry; events: TimelineEvent[] } | undefined {
  const byKey = new Map<string, AlarmFact>()
  for (const fact of parts.facts) {
    const key = keyOf(fact)
    if (!byKey.has(key)) byKey.set(key, fact)
  }
  if (parts.record !== undefined) {
    const known = new Set([...byKey.values()].map(function changeOf (fact) { return fact.change }))
    for (const fact of factsOfRecord(parts.record)) {
      const key = keyOf(fact)
      // A record's bare facts (no message) stand in for a kind of change nothing else told.
      if (byKey.has(key) || (fact.message === '' && known.has(fact.change))) continue
      byKey.set(key, fact)
    }
  }
  const facts = [...byKey.values()].sort(function chronological (a, b) { return a.atMs - b.atMs || CHANGE_ORDER[a.change] - CHANGE_ORDER[b.change] })
  const latest = facts.at(-1)
  if (latest === undefined) return undefined
  const record = parts.record
  const raised = facts.find(function isRaise (f) { return f.change === 'raised' })
  const raisedAtMs = record !== undefined
    ? Date.parse(record.raisedAt)
    : raised?.atMs ?? facts.find(function tellsRaise (f) { return f.raisedAtMs !== undefined })?.raisedAtMs ?? facts[0]!.atMs
  const acked = facts.findLast(function isAck (f) { return f.change === 'acknowledged' })
  const cleared = facts.find(function isClear (f) { return f.change === 'cleared' })
  let severity = record?.severity ?? latest.severity
  for (const fact of facts) if (SEVERITY_RANK[fact.severity] > SEVERITY_RANK[severity]) severity = fact.severity
  const subject = record ?? { id: latest.alarmId, type: latest.type, deviceId: latest.deviceId, kind: latest.kind, district: latest.district, message: latest.message, state: latest.state }

  const entry: HistoryEntry = {
    id: subject.id,
    type: subject.type,
    severity,
    deviceId: subject.deviceId,
    kind: subject.kind,
    district: subject.district,
    message: subject.message,
    state: subject.state,
    raisedAt: new Date(raisedAtMs).toISOString(),
    escalations: facts.filter(function isEscalation (f) { return f.change === 'escalated' }).length,
  }
  // Every later change carries the steps so far: the list reads no overdue points, the timeline all of them.
  let ackEscalations = Math.max(record?.escalation ?? 0, facts.filter(function isOverdue (f) { return f.change === 'overdue' }).length)
  for (const fact of facts) ackEscalations = Math.max(ackEscalations, fact.escalation ?? 0)
  if (ackEscalations > 0) entry.ackEscalations = ackEscalations
  if (acked !== undefined) {
    entry.ackedAt = new Date(acked.atMs).toISOString()
    if (acked.by !== undefined) entry.ackedBy = acked.by
    if (acked.note !== undefined) entry.ackNote = acked.note
    entry.timeToAckSec = secondsBetween(raisedAtMs, acked.atMs)
  }
  if (cleared !== undefined) {
    entry.clearedAt = new Date(cleared.atMs).toISOString()
    entry.timeToClearSec = secondsBetween(raisedAtMs, cleared.atMs)
  }
  return { entry, events: facts.map(eventOf) }
}

function keyOf (fact: AlarmFact): string {
  if (fact.change === 'overdue') return `overdue:${fact.escalation ?? 0}`
  return fact.change === 'raised' || fact.change === 'cleared' ? fact.change : `${fact.change}:${fact.severity}`
}

function eventOf (fact: AlarmFact): TimelineEvent {
  const event: TimelineEvent = { change: fact.change, at: new Date(fact.atMs).toISOString(), severity: fact.severity, state: fact.state, message: fact.message }
  if (fact.value !== undefined) event.value = fact.value
  if (fact.threshold !== undefined) event.threshold = fact.threshold
  if (fact.by !== undefined) event.by = fact.by
  if (fact.note !== undefined) event.note = fact.note
  if (fact.change === 'overdue' && fact.escalation !== undefined) event.escalation = fact.escalation
  return event
}

/** Seconds to the millisecond, never negative (point times may sit a millisecond off the record's). */
function secondsBetween (fromMs: number, toMs: number): number {
  return Math.max(0, toMs - fromMs) / 1000
}
