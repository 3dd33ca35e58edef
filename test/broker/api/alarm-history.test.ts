// An alarm's history built from its stored points, the journal of changes since start and its
// current record: each change once whichever source told it, the times that matter to crews, and
// what a record alone can tell after a restart without InfluxDB.
import { describe, expect, it } from 'vitest'
import type { AlarmEvent, AlarmRecord } from '../../../broker/alarms/alarm.ts'
import { buildHistory, factOfEvent, factOfPoint } from '../../../broker/api/alarm-history.ts'
import { createAlarmJournal } from '../../../broker/api/alarm-journal.ts'

const T0 = Date.parse('2026-03-01T08:00:00.000Z')
const iso = (sec: number): string => new Date(T0 + sec * 1000).toISOString()

const raisedRecord: AlarmRecord = {
  id: 'a1', type: 'lowPressure', severity: 'minor', state: 'active', deviceId: 'wp-1', kind: 'water-pipe', district: 'north',
  value: 1.4, threshold: 1.5, message: 'Pressure 1.4 bar', raisedAt: iso(0), updatedAt: iso(0),
}
const escalatedRecord: AlarmRecord = { ...raisedRecord, severity: 'critical', value: 0.4, threshold: 0.5, message: 'Pressure 0.4 bar', updatedAt: iso(60) }
const ackedRecord: AlarmRecord = { ...escalatedRecord, state: 'acknowledged', ackedBy: 'crew-north', ackNote: 'on our way', ackedAt: iso(90), updatedAt: iso(90) }
const clearedRecord: AlarmRecord = { ...ackedRecord, state: 'cleared', value: 3, message: 'Pressure back to 3 bar', clearedAt: iso(600), updatedAt: iso(600) }
const lifecycle: AlarmEvent[] = [
  { change: 'raised', alarm: raisedRecord },
  { change: 'escalated', alarm: escalatedRecord },
  { change: 'acknowledged', alarm: ackedRecord },
  { change: 'cleared', alarm: clearedRecord },
]

/** The row InfluxDB answers for the point the publisher wrote for `event` (a millisecond later, as the point clock may shift it). */
function pointRow (event: AlarmEvent): Record<string, unknown> {
  const { alarm, change } = event
  const atMs = Date.parse(alarm.updatedAt) + 1
  return {
    time: atMs, alarm_id: alarm.id, change, state: alarm.state, severity: alarm.severity, device_id: alarm.deviceId,
    district: alarm.district, kind: alarm.kind, type: alarm.type, message: alarm.message, value: alarm.value, threshold: alarm.threshold,
    acked_by: change === 'acknowledged' ? alarm.ackedBy : null,
    note: change === 'acknowledged' ? alarm.ackNote ?? null : null,
    ack_sec: change === 'acknowledged' ? (atMs - T0) / 1000 : null,
    clear_sec: change === 'cleared' ? (atMs - T0) / 1000 : null,
  }
}

describe('alarm history', () => {
  it('reads stored points: each change with its severity, who acknowledged with the note, and the raise time from the seconds since it', () => {
    const facts = lifecycle.map(pointRow).map((row) => factOfPoint(row))
    expect(facts.every((f) => f !== undefined)).toBe(true)
    expect(facts[2]).toMatchObject({ change: 'acknowledged', by: 'crew-north', note: 'on our way', raisedAtMs: T0 })
    expect(factOfPoint({ ...pointRow(lifecycle[0]!), alarm_id: null })).toBeUndefined() // written before points had ids
    expect(factOfPoint({ ...pointRow(lifecycle[0]!), change: 'exploded' })).toBeUndefined()
    expect(factOfPoint({ ...pointRow(lifecycle[0]!), time: '2026' })).toBeUndefined()
  })

  it('builds the entry and the timeline from stored points alone (after a restart)', () => {
    const built = buildHistory({ facts: lifecycle.map(pointRow).map((row) => factOfPoint(row)!) })
    expect(built?.entry).toEqual({
      id: 'a1', type: 'lowPressure', severity: 'critical', deviceId: 'wp-1', kind: 'water-pipe', district: 'north',
      message: 'Pressure back to 3 bar', state: 'cleared', raisedAt: new Date(T0 + 1).toISOString(),
      ackedAt: new Date(T0 + 90_001).toISOString(), ackedBy: 'crew-north', ackNote: 'on our way', clearedAt: new Date(T0 + 600_001).toISOString(),
      timeToAckSec: 90, timeToClearSec: 600, escalations: 1,
    })
    expect(built?.events.map((e) => `${e.change}:${e.severity}:${e.state}`)).toEqual(['raised:minor:active', 'escalated:critical:active', 'acknowledged:critical:acknowledged', 'cleared:critical:cleared'])
    expect(built?.events[2]).toMatchObject({ by: 'crew-north', note: 'on our way', message: 'Pressure 0.4 bar', value: 0.4, threshold: 0.5 })
  })

  it('takes the raise time from an acknowledgement or clear when the raise is not among the points', () => {
    const built = buildHistory({ facts: lifecycle.slice(2).map(pointRow).map((row) => factOfPoint(row)!) })
    expect(built?.entry).toMatchObject({ raisedAt: iso(0), timeToAckSec: 90.001, timeToClearSec: 600.001, escalations: 0 })
  })

  it('counts a change told by both InfluxDB and memory once, and adds what only one of them knows', () => {
    const stored = lifecycle.slice(0, 2).map(pointRow).map((row) => factOfPoint(row)!)
    const remembered = lifecycle.slice(1).map(factOfEvent) // the last two are still in the spool
    const built = buildHistory({ facts: [...remembered, ...stored], record: clearedRecord })
    expect(built?.events.map((e) => e.change)).toEqual(['raised', 'escalated', 'acknowledged', 'cleared'])
    expect(built?.entry).toMatchObject({ raisedAt: iso(0), ackedAt: iso(90), clearedAt: iso(600), timeToAckSec: 90, timeToClearSec: 600, escalations: 1, state: 'cleared' })
  })

  it('shows each acknowledgement after an escalation asked again; the entry has the latest', () => {
    const minorAck: AlarmRecord = { ...raisedRecord, state: 'acknowledged', ackedBy: 'crew-a', ackedAt: iso(30), updatedAt: iso(30) }
    const events: AlarmEvent[] = [
      { change: 'raised', alarm: raisedRecord },
      { change: 'acknowledged', alarm: minorAck },
      { change: 'escalated', alarm: { ...escalatedRecord, ackedBy: 'crew-a', ackedAt: iso(30) } },
      { change: 'acknowledged', alarm: ackedRecord },
    ]
    const built = buildHistory({ facts: events.map(factOfEvent), record: ackedRecord })
    expect(built?.events.map((e) => `${e.change}:${e.by ?? ''}`)).toEqual(['raised:', 'acknowledged:crew-a', 'escalated:', 'acknowledged:crew-north'])
    expect(built?.entry).toMatchObject({ state: 'acknowledged', ackedBy: 'crew-north', ackedAt: iso(90), timeToAckSec: 90 })
  })

  it('from a record alone (restart without InfluxDB) tells the raise and acknowledgement times without inventing messages', () => {
    const built = buildHistory({ facts: [], record: clearedRecord })
    expect(built?.events).toEqual([
      { change: 'raised', at: iso(0), severity: 'critical', state: 'active', message: '' },
      { change: 'acknowledged', at: iso(90), severity: 'critical', state: 'acknowledged', message: '', by: 'crew-north', note: 'on our way' },
      { change: 'cleared', at: iso(600), severity: 'critical', state: 'cleared', message: 'Pressure back to 3 bar', value: 3, threshold: 0.5 },
    ])
    expect(built?.entry).toMatchObject({ ackedBy: 'crew-north', timeToAckSec: 90, timeToClearSec: 600 })
    // An open alarm's record is its own latest change.
    expect(buildHistory({ facts: [], record: raisedRecord })?.events).toEqual([
      { change: 'raised', at: iso(0), severity: 'minor', state: 'active', message: 'Pressure 1.4 bar', value: 1.4, threshold: 1.5 },
    ])
    expect(buildHistory({ facts: [] })).toBeUndefined()
  })
})

describe('alarm journal', () => {
  it('keeps the changes of the most recently changed alarms, oldest change first', () => {
    const journal = createAlarmJournal(2)
    for (const event of lifecycle.slice(0, 2)) journal.record(event)
    journal.record({ change: 'raised', alarm: { ...raisedRecord, id: 'a2' } })
    journal.record(lifecycle[2]!) // a1 changed last: a2 is now the least recently changed
    journal.record({ change: 'raised', alarm: { ...raisedRecord, id: 'a3' } })
    expect([...journal.alarms()].map(([id]) => id)).toEqual(['a1', 'a3'])
    expect(journal.factsOf('a1').map((f) => f.change)).toEqual(['raised', 'escalated', 'acknowledged'])
    expect(journal.factsOf('a2')).toEqual([])
  })

  it('counts overdue steps once each, and from the steps so far that later changes carry when the steps themselves were not read', () => {
    const due: AlarmRecord = { ...raisedRecord, severity: 'critical', ackDueAt: iso(300) }
    const step = (n: number): AlarmEvent => ({ change: 'overdue', alarm: { ...due, escalation: n, ackDueAt: iso(300 * (n + 1)), updatedAt: iso(300 * n) } })
    const acked: AlarmRecord = { ...due, state: 'acknowledged', escalation: 2, ackedBy: 'crew-north', ackedAt: iso(700), updatedAt: iso(700) }
    const { ackDueAt: _due, ...ackedWithoutDeadline } = acked
    const ack: AlarmEvent = { change: 'acknowledged', alarm: ackedWithoutDeadline }
    // The timeline: every step from InfluxDB and from memory, each once, numbered.
    const all = buildHistory({ facts: [step(1), step(2), ack].flatMap((e) => [factOfEvent(e), factOfPoint({ ...pointRow(e), escalation: e.alarm.escalation })!]) })
    expect(all?.events.map((e) => [e.change, e.escalation])).toEqual([['overdue', 1], ['overdue', 2], ['acknowledged', undefined]])
    expect(all?.entry).toMatchObject({ ackEscalations: 2, escalations: 0 })
    // The list reads no overdue points: the acknowledgement's point carries the count.
    const listed = buildHistory({ facts: [factOfPoint({ ...pointRow(ack), escalation: 2 })!] })
    expect(listed?.entry.ackEscalations).toBe(2)
    expect(buildHistory({ facts: [factOfEvent({ change: 'raised', alarm: raisedRecord })] })?.entry.ackEscalations).toBeUndefined()
  })

  it('keeps the latest overdue steps in the journal, so an alarm overdue for hours still has room for its acknowledgement and clear', () => {
    const journal = createAlarmJournal()
    journal.record({ change: 'raised', alarm: raisedRecord })
    for (let n = 1; n <= 40; n++) journal.record({ change: 'overdue', alarm: { ...raisedRecord, escalation: n, updatedAt: iso(n * 60) } })
    journal.record({ change: 'cleared', alarm: { ...clearedRecord, escalation: 40 } })
    const facts = journal.factsOf('a1')
    expect(facts.map((f) => f.change === 'overdue' ? f.escalation : f.change)).toEqual(['raised', 37, 38, 39, 40, 'cleared'])
  })
})
