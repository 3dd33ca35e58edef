// How one node's alarm change is laid over the bucket's current version: a raise takes only an
// empty or cleared slot; other changes apply only to the same alarm while it is open and keep
// what another node changed meanwhile. Keys survive device ids with dots.
import { describe, expect, it } from 'vitest'
import type { AlarmEvent, AlarmRecord, OpenAlarm } from '../../../broker/alarms/alarm.ts'
import { alarmKey, mergeChange, parseAlarmKey } from '../../../broker/cluster/alarm-entry.ts'

const at = (s: number): string => new Date(1_700_000_000_000 + s * 1000).toISOString()

function record (overrides: Partial<AlarmRecord> = {}): AlarmRecord {
  return {
    id: 'a1', type: 'h2s', severity: 'major', state: 'active', deviceId: 'mh.1', kind: 'manhole', district: 'north',
    value: 12, threshold: 10, message: 'H2S 12 ppm', raisedAt: at(0), updatedAt: at(0), ...overrides,
  }
}

function open (overrides: Partial<AlarmRecord> = {}, captured: Record<string, number> = { before: 3 }): OpenAlarm {
  return { alarm: record(overrides), captured }
}

describe('alarm keys', () => {
  it('encode the device id so that its dots do not split the key, and decode back', () => {
    const key = alarmKey('mh.north.1', 'coverOpen')
    expect(key.split('.')).toHaveLength(2)
    expect(key).toMatch(/^[A-Za-z0-9_-]+\.coverOpen$/)
    expect(parseAlarmKey(key)).toEqual({ deviceId: 'mh.north.1', type: 'coverOpen' })
    expect(parseAlarmKey('offline-check')).toBeUndefined()
  })
})

describe('merging a change over the bucket\'s version', () => {
  const raise: AlarmEvent = { change: 'raised', alarm: record({ id: 'new' }), captured: { pressure: 4.2 } }

  it('a raise takes a missing or cleared slot with what it captured, and yields to an open alarm', () => {
    expect(mergeChange(raise, undefined)).toEqual({ write: true, event: { change: 'raised', alarm: raise.alarm }, entry: { alarm: raise.alarm, captured: { pressure: 4.2 } } })
    expect(mergeChange(raise, open({ state: 'cleared' }))).toMatchObject({ write: true, entry: { alarm: { id: 'new' } } })
    expect(mergeChange(raise, open({ state: 'acknowledged' }))).toEqual({ write: false, reason: 'superseded' })
  })

  it('an escalation applies upward to the same open alarm and keeps its acknowledgement and capture', () => {
    const escalated: AlarmEvent = { change: 'escalated', alarm: record({ severity: 'critical', value: 25, threshold: 20, message: 'H2S 25 ppm', updatedAt: at(60) }) }
    const merged = mergeChange(escalated, open({ state: 'acknowledged', ackedBy: 'crew-b' }))
    expect(merged).toMatchObject({
      write: true,
      event: { change: 'escalated', alarm: { id: 'a1', severity: 'critical', state: 'active', value: 25, ackedBy: 'crew-b', updatedAt: at(60) } },
      entry: { captured: { before: 3 } },
    })
    expect(mergeChange(escalated, open({ severity: 'critical' }))).toEqual({ write: false, reason: 'superseded' })
    expect(mergeChange(escalated, open({ id: 'other' }))).toEqual({ write: false, reason: 'superseded' })
    expect(mergeChange(escalated, undefined)).toEqual({ write: false, reason: 'superseded' })
  })

  it('an overdue step applies once per number to the same active alarm, and never over an acknowledgement', () => {
    const step: AlarmEvent = { change: 'overdue', alarm: record({ escalation: 2, ackDueAt: at(90), updatedAt: at(60) }) }
    expect(mergeChange(step, open({ escalation: 1, ackDueAt: at(60), value: 14 }))).toMatchObject({
      write: true,
      event: { change: 'overdue', alarm: { id: 'a1', state: 'active', escalation: 2, ackDueAt: at(90), value: 14, updatedAt: at(60) } },
      entry: { captured: { before: 3 } },
    })
    // Another node took this step already, or a crew acknowledged meanwhile.
    expect(mergeChange(step, open({ escalation: 2 }))).toEqual({ write: false, reason: 'superseded' })
    expect(mergeChange(step, open({ escalation: 1, state: 'acknowledged', ackedBy: 'crew-b' }))).toEqual({ write: false, reason: 'superseded' })
    expect(mergeChange(step, open({ id: 'other', escalation: 1 }))).toEqual({ write: false, reason: 'superseded' })
  })

  it('an acknowledgement applies once to the same open alarm, over an escalation made meanwhile', () => {
    const ack: AlarmEvent = { change: 'acknowledged', alarm: record({ state: 'acknowledged', ackedBy: 'crew-a', ackNote: 'coming', updatedAt: at(30) }) }
    expect(mergeChange(ack, open({ severity: 'critical', value: 25 }))).toMatchObject({
      write: true,
      event: { alarm: { state: 'acknowledged', ackedBy: 'crew-a', ackNote: 'coming', severity: 'critical', value: 25, updatedAt: at(30) } },
    })
    expect(mergeChange(ack, open({ state: 'acknowledged', ackedBy: 'crew-b' }))).toEqual({ write: false, reason: 'already_acknowledged' })
    // The time of the acknowledgement comes along; an earlier acknowledgement's note does not stay.
    const timed: AlarmEvent = { change: 'acknowledged', alarm: record({ state: 'acknowledged', ackedBy: 'crew-a', ackedAt: at(40), updatedAt: at(40) }) }
    const merged = mergeChange(timed, open({ severity: 'critical', ackedBy: 'crew-b', ackedAt: at(10), ackNote: 'earlier' }))
    expect(merged).toMatchObject({ write: true, event: { alarm: { ackedBy: 'crew-a', ackedAt: at(40) } }, entry: { alarm: { ackedAt: at(40) } } })
    expect(merged.write && merged.event.alarm.ackNote).toBeUndefined()
    expect(mergeChange(ack, open({ id: 'reraised' }))).toEqual({ write: false, reason: 'not_found' })
    expect(mergeChange(ack, open({ state: 'cleared' }))).toEqual({ write: false, reason: 'not_found' })
    expect(mergeChange(ack, undefined)).toEqual({ write: false, reason: 'not_found' })
  })

  it('a clear applies to the same open alarm, acknowledged or not, and to nothing else', () => {
    const clear: AlarmEvent = { change: 'cleared', alarm: record({ state: 'cleared', value: 2, message: 'back to normal', updatedAt: at(90), clearedAt: at(90) }) }
    expect(mergeChange(clear, open({ state: 'acknowledged', ackedBy: 'crew-b' }))).toMatchObject({
      write: true,
      event: { change: 'cleared', alarm: { state: 'cleared', ackedBy: 'crew-b', value: 2, message: 'back to normal', clearedAt: at(90) } },
    })
    expect(mergeChange(clear, open({ id: 'reraised' }))).toEqual({ write: false, reason: 'superseded' })
    expect(mergeChange(clear, open({ state: 'cleared' }))).toEqual({ write: false, reason: 'superseded' })
  })
})
