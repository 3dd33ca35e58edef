// The engine as a pure state machine: hold times on reading time, escalation only upward,
// acknowledge outcomes, offline on the wall clock, reconcile after a rules change, snapshots.
import { describe, expect, it } from 'vitest'
import { createAlarmEngine, type RuleSource } from '../../../broker/alarms/engine.ts'
import type { AlarmDevice } from '../../../broker/alarms/alarm.ts'
import type { CompiledRule } from '../../../devices/define-rule.ts'
import { kinds } from '../../../devices/index.ts'

const manhole: AlarmDevice = { id: 'mh-1', kind: 'manhole', district: 'north', location: { lat: 52, lon: 4 } }
const defaults = (device: AlarmDevice): CompiledRule[] =>
  (Object.values(kinds).find((k) => k.name === device.kind)?.rules ?? []).map((rule) => rule.build(rule.params))

function source (overrides: Partial<RuleSource> = {}): RuleSource {
  return { rulesFor: defaults, offlineAfterMs: () => 10_000, ...overrides }
}

let n = 0
const ids = (): string => `alarm-${++n}`
const at = (ms: number) => ({ tsMs: ms })

describe('alarm engine', () => {
  it('raises once when a held condition reaches its duration on reading time', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const t0 = 1_000_000
    expect(engine.evaluate(manhole, [{ ...at(t0), values: { coverAngle: 20 } }], t0)).toEqual([])
    expect(engine.evaluate(manhole, [{ ...at(t0 + 9_999), values: { coverAngle: 20 } }], t0)).toEqual([])
    const [raised] = engine.evaluate(manhole, [{ ...at(t0 + 10_000), values: { coverAngle: 20 } }], t0)
    expect(raised).toMatchObject({ change: 'raised', alarm: { type: 'coverOpen', severity: 'critical', state: 'active', value: 20, threshold: 10, location: { lat: 52, lon: 4 } } })
    expect(engine.evaluate(manhole, [{ ...at(t0 + 20_000), values: { coverAngle: 25 } }], t0)).toEqual([])
  })

  it('evaluates a batch in time order whatever order it arrived in', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events = engine.evaluate(manhole, [10_000, 0, 5_000].map((t) => ({ ...at(t), values: { coverAngle: 20 } })), 0)
    expect(events.map((e) => e.change)).toEqual(['raised'])
  })

  it('escalates in place, never down, and keeps the id', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const [major] = engine.evaluate(manhole, [{ ...at(0), values: { coverAngle: 1, waterLevel: 1.1 } }], 0)
    const [critical] = engine.evaluate(manhole, [{ ...at(60_000), values: { coverAngle: 1, waterLevel: 1.6 } }], 0)
    expect(critical).toMatchObject({ change: 'escalated', alarm: { id: major!.alarm.id, severity: 'critical' } })
    expect(engine.evaluate(manhole, [{ ...at(120_000), values: { coverAngle: 1, waterLevel: 1.2 } }], 0)).toEqual([])
    expect(engine.openAlarms()[0]?.severity).toBe('critical')
  })

  it('acknowledges once, and an escalation asks for attention again', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    engine.evaluate(manhole, [{ ...at(0), values: { coverAngle: 1, h2s: 12 } }], 0)
    expect(engine.acknowledge('crew-a', 'mh-1', 'h2s', 'coming', 5)).toMatchObject({ ok: true, event: { alarm: { state: 'acknowledged', ackedBy: 'crew-a', ackNote: 'coming' } } })
    expect(engine.acknowledge('crew-b', 'mh-1', 'h2s', undefined, 6)).toEqual({ ok: false, reason: 'already_acknowledged' })
    expect(engine.acknowledge('crew-b', 'mh-1', 'ch4', undefined, 6)).toEqual({ ok: false, reason: 'not_found' })
    const [escalated] = engine.evaluate(manhole, [{ ...at(60_000), values: { coverAngle: 1, h2s: 25 } }], 0)
    expect(escalated?.alarm).toMatchObject({ state: 'active', severity: 'critical', ackedBy: 'crew-a' })
  })

  it('records when an alarm was acknowledged, the latest acknowledgement with its own note, and keeps it on the clear', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    engine.evaluate(manhole, [{ ...at(0), values: { coverAngle: 1, h2s: 12 } }], 0)
    const first = engine.acknowledge('crew-a', 'mh-1', 'h2s', 'coming', 5_000)
    expect(first).toMatchObject({ ok: true, event: { alarm: { ackedBy: 'crew-a', ackNote: 'coming', ackedAt: new Date(5_000).toISOString(), updatedAt: new Date(5_000).toISOString() } } })
    engine.evaluate(manhole, [{ ...at(60_000), values: { coverAngle: 1, h2s: 25 } }], 0)
    const second = engine.acknowledge('crew-b', 'mh-1', 'h2s', undefined, 70_000)
    expect(second.ok && second.event.alarm).toMatchObject({ ackedBy: 'crew-b', ackedAt: new Date(70_000).toISOString() })
    expect(second.ok && second.event.alarm.ackNote).toBeUndefined() // crew-a's note was not crew-b's
    const [cleared] = engine.evaluate(manhole, [{ ...at(120_000), values: { coverAngle: 1, h2s: 1 } }, { ...at(300_000), values: { coverAngle: 1, h2s: 1 } }], 0)
    expect(cleared?.alarm).toMatchObject({ state: 'cleared', ackedBy: 'crew-b', ackedAt: new Date(70_000).toISOString() })
  })

  it('ignores late readings and readings without the rule\'s fields', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    engine.evaluate(manhole, [{ ...at(100_000), values: { coverAngle: 1, waterLevel: 1.2 } }], 0)
    expect(engine.evaluate(manhole, [{ ...at(50_000), values: { coverAngle: 1, waterLevel: 0.1 } }], 0)).toEqual([])
    expect(engine.evaluate(manhole, [{ ...at(200_000), values: { coverAngle: 1 } }], 0)).toEqual([])
    expect(engine.openAlarms()).toHaveLength(1)
  })

  it('does not count a resent reading (same ts) twice', () => {
    const lamp: AlarmDevice = { id: 'lp-1', kind: 'lamp-post', district: 'north' }
    const engine = createAlarmEngine(source(), undefined, ids)
    const dark = { ...at(1000), values: { commandedLevel: 80, activePower: 1, supplyVoltage: 230 } }
    expect(engine.evaluate(lamp, [dark], 0)).toEqual([])
    expect(engine.evaluate(lamp, [dark], 0)).toEqual([]) // a QoS 1 duplicate
    expect(engine.evaluate(lamp, [{ ...dark, tsMs: 2000 }], 0).map((e) => e.alarm.type)).toEqual(['lampFailure'])
  })

  it('states a lamp failure in the watts the lamp reports, whether it is dark or flagged', () => {
    const lamp: AlarmDevice = { id: 'lp-2', kind: 'lamp-post', district: 'north' }
    const dark = createAlarmEngine(source(), undefined, ids)
    dark.evaluate(lamp, [{ ...at(1000), values: { commandedLevel: 80, activePower: 0.6, supplyVoltage: 230 } }], 0)
    const [darkRaise] = dark.evaluate(lamp, [{ ...at(2000), values: { commandedLevel: 80, activePower: 0.6, supplyVoltage: 230 } }], 0)
    expect(darkRaise?.alarm).toMatchObject({ type: 'lampFailure', value: 0.6, threshold: 5 })
    expect(darkRaise?.alarm.message).toBe('Lamp is commanded on but draws only 0.6 W (alarm below 5 W): open circuit or dead LED module.')
    const flagged = createAlarmEngine(source(), undefined, ids)
    const [flagRaise] = flagged.evaluate(lamp, [{ ...at(1000), values: { commandedLevel: 80, activePower: 41.5, supplyVoltage: 230, lampFailure: true } }], 0)
    expect(flagRaise?.alarm).toMatchObject({ type: 'lampFailure', value: 41.5, threshold: 5 })
    expect(flagRaise?.alarm.message).toBe('Lamp reports a lamp failure while drawing 41.5 W.')
  })

  it('raises deviceOffline on the wall clock and clears it on the next reading', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    engine.evaluate(manhole, [{ ...at(0), values: { coverAngle: 1 } }], 1_000)
    expect(engine.checkOffline(11_000)).toEqual([])
    const [offline] = engine.checkOffline(11_001)
    expect(offline?.alarm).toMatchObject({ type: 'deviceOffline', value: 10, threshold: 10, state: 'active' })
    expect(engine.checkOffline(50_000)).toEqual([])
    const [back] = engine.evaluate(manhole, [{ ...at(1), values: { coverAngle: 1 } }], 60_000)
    expect(back?.alarm).toMatchObject({ type: 'deviceOffline', state: 'cleared', value: 59 })
  })

  it('does not watch devices that never reported, nor with offline switched off', () => {
    const engine = createAlarmEngine(source({ offlineAfterMs: () => undefined }), undefined, ids)
    engine.evaluate(manhole, [{ ...at(0), values: { coverAngle: 1 } }], 0)
    expect(engine.checkOffline(1e12)).toEqual([])
  })

  it('restores open alarms from a snapshot and does not raise them again', () => {
    const first = createAlarmEngine(source(), undefined, ids)
    first.evaluate(manhole, [{ ...at(0), values: { coverAngle: 120 } }], 0)
    const snapshot = JSON.parse(JSON.stringify(first.snapshot())) as ReturnType<typeof first.snapshot>
    const second = createAlarmEngine(source(), snapshot, ids)
    expect(second.openAlarms()).toEqual(first.openAlarms())
    expect(second.evaluate(manhole, [{ ...at(1_000), values: { coverAngle: 130 } }], 0)).toEqual([])
    expect(second.evaluate(manhole, [{ ...at(500), values: { coverAngle: 1 } }], 0)).toEqual([]) // older than the newest seen before the restart
  })

  it('keeps a held condition\'s progress when the rule set in force is rebuilt (a rules file reload)', () => {
    let built = defaults(manhole)
    const engine = createAlarmEngine(source({ rulesFor: () => built }), undefined, ids)
    const t0 = 5_000_000
    expect(engine.evaluate(manhole, [{ ...at(t0), values: { coverAngle: 20 } }], t0)).toEqual([])
    built = defaults(manhole) // new rule objects, same rules
    const [raised] = engine.evaluate(manhole, [{ ...at(t0 + 10_000), values: { coverAngle: 20 } }], t0)
    expect(raised).toMatchObject({ change: 'raised', alarm: { type: 'coverOpen' } })
  })

  it('clears alarms whose rule was switched off', () => {
    let rules = defaults
    const engine = createAlarmEngine(source({ rulesFor: (d) => rules(d) }), undefined, ids)
    engine.evaluate(manhole, [{ ...at(0), values: { coverAngle: 1, ch4: 15 } }], 0)
    rules = (d) => defaults(d).filter((r) => r.type !== 'ch4')
    const [cleared] = engine.reconcile(5)
    expect(cleared?.alarm).toMatchObject({ type: 'ch4', state: 'cleared', message: 'The ch4 rule was switched off.' })
  })

  it('adopts another node\'s version of an alarm: it replaces, clears and opens entries', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const [raised] = engine.evaluate(manhole, [{ ...at(0), values: { coverAngle: 120 } }], 0)
    expect(raised?.captured).toEqual({})
    const acked = { alarm: { ...raised!.alarm, state: 'acknowledged' as const, ackedBy: 'crew-b' }, captured: {} }
    engine.adopt('mh-1', 'coverOpen', acked)
    expect(engine.acknowledge('crew-a', 'mh-1', 'coverOpen', undefined, 1)).toEqual({ ok: false, reason: 'already_acknowledged' })
    expect(acked.alarm.ackedBy).toBe('crew-b') // the engine works on its own entry, not the caller's
    engine.adopt('mh-1', 'coverOpen', { alarm: { ...acked.alarm, state: 'cleared' }, captured: {} })
    expect(engine.openAlarms()).toEqual([])
    // A condition still holding on this node raises again with its next reading.
    expect(engine.evaluate(manhole, [{ ...at(1000), values: { coverAngle: 120 } }], 0).map((e) => e.change)).toEqual(['raised'])
    engine.adopt('mh-1', 'coverOpen', undefined)
    engine.adopt('mh-2', 'h2s', { alarm: { ...raised!.alarm, deviceId: 'mh-2', type: 'h2s' }, captured: {} })
    expect(engine.openAlarms().map((a) => `${a.deviceId}:${a.type}`)).toEqual(['mh-2:h2s'])
  })

  it('clears an adopted deviceOffline when the device reports here', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const offline = { id: 'off-1', type: 'deviceOffline', severity: 'major' as const, state: 'active' as const, deviceId: 'mh-1', kind: 'manhole', district: 'north', value: 20, threshold: 10, message: 'm', raisedAt: 'x', updatedAt: 'x' }
    engine.adopt('mh-1', 'deviceOffline', { alarm: offline, captured: {} })
    const [back] = engine.evaluate(manhole, [{ ...at(1), values: { coverAngle: 1 } }], 60_000)
    expect(back).toMatchObject({ change: 'cleared', alarm: { id: 'off-1', state: 'cleared' } })
  })

  it('counts a device seen elsewhere as seen, and checks its silence with the slack given', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    engine.markSeen(manhole, 1_000)
    engine.markSeen(manhole, 500) // an older digest does not move last-seen back
    expect(engine.checkOffline(11_000)).toEqual([])
    expect(engine.checkOffline(12_000, 1_000)).toEqual([])
    expect(engine.checkOffline(12_001, 1_000).map((e) => e.alarm.type)).toEqual(['deviceOffline'])
  })
})
