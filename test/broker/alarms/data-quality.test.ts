// Data-quality rules on the engine: stuckSensor (a field marked `varies` repeats one value) and
// clockSkew (a device's own ts against the receipt time), with their defaults from devices/.
import { describe, expect, it } from 'vitest'
import { createAlarmEngine, type RuleSource } from '../../../broker/alarms/engine.ts'
import { engineSnapshotSchema, type AlarmDevice, type AlarmEvent } from '../../../broker/alarms/alarm.ts'
import type { CompiledRule, ReadingView } from '../../../devices/define-rule.ts'
import { getKind } from '../../../devices/index.ts'
import { parseRulesFile } from '../../../broker/alarms/rules-config.ts'

const pipe: AlarmDevice = { id: 'wp-1', kind: 'water-pipe', district: 'north' }
const manhole: AlarmDevice = { id: 'mh-1', kind: 'manhole', district: 'north' }
const lamp: AlarmDevice = { id: 'lp-1', kind: 'lamp-post', district: 'north' }

/** The kind's default rules, with parameter overrides by rule type. */
function source (overrides: Record<string, Record<string, number>> = {}, without: readonly string[] = []): RuleSource {
  const cache = new Map<string, CompiledRule[]>()
  return {
    rulesFor (device) {
      let rules = cache.get(device.kind)
      if (rules === undefined) {
        rules = (getKind(device.kind)?.rules ?? [])
          .filter((rule) => !without.includes(rule.type))
          .map((rule) => rule.build({ ...rule.params, ...overrides[rule.type] }))
        cache.set(device.kind, rules)
      }
      return rules
    },
    offlineAfterMs: () => undefined,
  }
}

let n = 0
const ids = (): string => `alarm-${++n}`
const T0 = Date.parse('2026-12-01T00:00:00.000Z')
const MINUTE = 60_000

function ofType (events: AlarmEvent[], type: string): AlarmEvent[] {
  return events.filter((e) => e.alarm.type === type)
}

describe('stuckSensor', () => {
  it('raises after 20 identical readings of a varying field, names it and since when, and clears when it changes', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events: AlarmEvent[] = []
    for (let i = 0; i < 19; i++) events.push(...engine.evaluate(pipe, [{ tsMs: T0 + i * MINUTE, values: { pressure: 412.5, flowRate: 30 + i } }], T0 + i * MINUTE))
    expect(ofType(events, 'stuckSensor')).toEqual([])
    const [raised] = ofType(engine.evaluate(pipe, [{ tsMs: T0 + 19 * MINUTE, values: { pressure: 412.5, flowRate: 50 } }], T0 + 19 * MINUTE), 'stuckSensor')
    expect(raised).toMatchObject({ change: 'raised', alarm: { severity: 'warning', value: 412.5, threshold: 20 } })
    expect(raised!.alarm.message).toBe('Pressure has reported exactly 412.5 kPa in 20 readings in a row since 2026-12-01T00:00:00.000Z: the sensor may be stuck.')
    // Other fields changing do not clear it; the stuck one changing does.
    expect(ofType(engine.evaluate(pipe, [{ tsMs: T0 + 20 * MINUTE, values: { pressure: 412.5, flowRate: 51 } }], 0), 'stuckSensor')).toEqual([])
    const [cleared] = engine.evaluate(pipe, [{ tsMs: T0 + 21 * MINUTE, values: { pressure: 413.1, flowRate: 52 } }], 0)
    expect(cleared).toMatchObject({ change: 'cleared', alarm: { id: raised!.alarm.id, type: 'stuckSensor', value: 413.1, message: 'Pressure changes again (now 413.1 kPa).' } })
  })

  it('is not raised by a burst of identical readings within seconds, by zero (a field at rest), or on fields not marked as varying', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events: AlarmEvent[] = []
    // 30 identical pressures within 3 s: one look at the sensor, not 30.
    for (let i = 0; i < 30; i++) events.push(...engine.evaluate(pipe, [{ tsMs: T0 + i * 100, values: { pressure: 400 } }], 0))
    // No flow for an hour, and a water temperature that sits still: both normal.
    for (let i = 0; i < 60; i++) events.push(...engine.evaluate(pipe, [{ tsMs: T0 + MINUTE + i * MINUTE, values: { pressure: 400 + (i % 5), flowRate: 0, waterTemp: 11.5 } }], 0))
    expect(ofType(events, 'stuckSensor')).toEqual([])
  })

  it('raises on time alone for a slow device: one value for 6 h', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const hour = 60 * MINUTE
    const events: AlarmEvent[] = []
    for (let i = 0; i < 6; i++) events.push(...engine.evaluate(manhole, [{ tsMs: T0 + i * hour, values: { coverAngle: 1 + i / 10, temperature: 12.3 } }], 0))
    expect(ofType(events, 'stuckSensor')).toEqual([])
    const [raised] = ofType(engine.evaluate(manhole, [{ tsMs: T0 + 6 * hour, values: { coverAngle: 1, temperature: 12.3 } }], 0), 'stuckSensor')
    expect(raised?.alarm.message).toMatch(/^Temperature has reported exactly 12.3 °C in 7 readings in a row since 2026-12-01T00:00:00.000Z/)
  })

  it('counts the other stuck fields in its message, and follows the rules\' parameters', () => {
    const engine = createAlarmEngine(source({ stuckSensor: { readings: 3, minSpanSec: 0 } }), undefined, ids)
    const events: AlarmEvent[] = []
    for (let i = 0; i < 3; i++) events.push(...engine.evaluate(pipe, [{ tsMs: T0 + i, values: { pressure: 400, flowRate: 12 } }], 0))
    expect(ofType(events, 'stuckSensor').map((e) => e.alarm.message)).toEqual([
      `Pressure has reported exactly 400 kPa in 3 readings in a row since ${new Date(T0).toISOString()} (1 other field has not changed either): the sensor may be stuck.`,
    ])
  })

  it('stays open across a restart while the value is still the same, and clears when it changes', () => {
    const engine = createAlarmEngine(source({ stuckSensor: { readings: 3, minSpanSec: 0 } }), undefined, ids)
    for (let i = 0; i < 3; i++) engine.evaluate(pipe, [{ tsMs: T0 + i * MINUTE, values: { pressure: 400 } }], 0)
    expect(engine.openAlarms().map((a) => a.type)).toEqual(['stuckSensor'])
    // A restart: open alarms come back from disk, the runs of values start again.
    const restarted = createAlarmEngine(source({ stuckSensor: { readings: 3, minSpanSec: 0 } }), engineSnapshotSchema.parse(JSON.parse(JSON.stringify(engine.snapshot()))), ids)
    expect(ofType(restarted.evaluate(pipe, [{ tsMs: T0 + 3 * MINUTE, values: { pressure: 400 } }], 0), 'stuckSensor')).toEqual([])
    expect(ofType(restarted.evaluate(pipe, [{ tsMs: T0 + 4 * MINUTE, values: { pressure: 401 } }], 0), 'stuckSensor').map((e) => e.change)).toEqual(['cleared'])
  })

  it('watches supplyVoltage of a lamp post, not its activePower', () => {
    const engine = createAlarmEngine(source({ stuckSensor: { readings: 5, minSpanSec: 0 } }), undefined, ids)
    const events: AlarmEvent[] = []
    for (let i = 0; i < 5; i++) events.push(...engine.evaluate(lamp, [{ tsMs: T0 + i * MINUTE, values: { commandedLevel: 50, supplyVoltage: 230 + i / 10, activePower: 40 } }], 0))
    expect(ofType(events, 'stuckSensor')).toEqual([])
    for (let i = 5; i < 10; i++) events.push(...engine.evaluate(lamp, [{ tsMs: T0 + i * MINUTE, values: { commandedLevel: 50, supplyVoltage: 231, activePower: 40 + i } }], 0))
    expect(ofType(events, 'stuckSensor').map((e) => e.alarm.message)).toEqual([expect.stringMatching(/^Supply voltage has reported exactly 231 V in 5 readings/)])
  })
})

describe('clockSkew', () => {
  /** One live reading a minute, `skewMs` off the receipt time (its own ts unless `ownTs` is false). */
  function live (engine: ReturnType<typeof createAlarmEngine>, minute: number, skewMs: number, ownTs = true): AlarmEvent[] {
    const receivedMs = T0 + minute * MINUTE
    const reading: ReadingView = ownTs
      ? { tsMs: receivedMs + skewMs, tsGiven: true, values: { pressure: 400 + (minute % 7) } }
      : { tsMs: receivedMs, tsGiven: false, values: { pressure: 400 + (minute % 7) } }
    return ofType(engine.evaluate(pipe, [reading], receivedMs), 'clockSkew')
  }

  it('raises after 10 readings in a row more than 2 min off, says the device\'s durations are suspect, and clears after 10 good ones', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events: AlarmEvent[] = []
    for (let m = 0; m < 9; m++) events.push(...live(engine, m, -5 * MINUTE))
    expect(events).toEqual([])
    const [raised] = live(engine, 9, -5 * MINUTE)
    expect(raised).toMatchObject({ change: 'raised', alarm: { type: 'clockSkew', severity: 'warning', value: -300, threshold: 120 } })
    expect(raised!.alarm.message).toBe('The device\'s clock is 5 min behind the gateway\'s (more than 2 min on 10 readings in a row): durations and rates judged from its readings are suspect.')
    // The clock is set right: the reading of the step itself is no look at the clock's offset (it
    // did not arrive at the pace of its ts); nine good readings after it are not enough.
    for (let m = 10; m < 20; m++) events.push(...live(engine, m, 1_000))
    expect(events).toEqual([])
    const [cleared] = live(engine, 20, 1_000)
    expect(cleared).toMatchObject({ change: 'cleared', alarm: { id: raised!.alarm.id, value: 1 } })
    expect(cleared!.alarm.message).toBe('The device\'s clock agrees with the gateway\'s again (1 s off; within 2 min on 10 readings in a row).')
  })

  it('judges a clock ahead too, and a reading within the limit starts the count again', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events: AlarmEvent[] = []
    for (let m = 0; m < 9; m++) events.push(...live(engine, m, 125_000))
    events.push(...live(engine, 9, 115_000))
    for (let m = 10; m < 19; m++) events.push(...live(engine, m, 125_000))
    expect(events).toEqual([])
    expect(live(engine, 19, 125_000).map((e) => e.alarm.message)).toEqual([expect.stringContaining('clock is 2.1 min ahead of the gateway\'s')])
  })

  it('never counts readings without their own ts', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events: AlarmEvent[] = []
    // Stamped at receipt by ingest; here even stamped 5 min off, they are not the device's clock.
    for (let m = 0; m < 40; m++) {
      const receivedMs = T0 + m * MINUTE
      events.push(...ofType(engine.evaluate(pipe, [{ tsMs: receivedMs - 5 * MINUTE, tsGiven: false, values: { pressure: 400 + (m % 7) } }], receivedMs), 'clockSkew'))
    }
    expect(events).toEqual([])
  })

  it('does not take buffered readings for a wrong clock: a batch, or a backlog sent after an outage', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events: AlarmEvent[] = []
    for (let m = 0; m < 5; m++) events.push(...live(engine, m, 0))
    // A batch every 10 min of the readings of each minute: only the newest, fresh one is judged.
    for (let b = 1; b <= 12; b++) {
      const receivedMs = T0 + (5 + b * 10) * MINUTE
      const batch = Array.from({ length: 10 }, (_, i) => ({ tsMs: receivedMs - (9 - i) * MINUTE, tsGiven: true, values: { pressure: 400 + i } }))
      events.push(...ofType(engine.evaluate(pipe, batch, receivedMs), 'clockSkew'))
    }
    // Offline for 2 h, then 120 buffered readings in as many messages within seconds, then live again.
    const backAtMs = T0 + 245 * MINUTE
    for (let i = 0; i < 120; i++) {
      const tsMs = backAtMs - (120 - i) * MINUTE
      events.push(...ofType(engine.evaluate(pipe, [{ tsMs, tsGiven: true, values: { pressure: 400 + (i % 9) } }], backAtMs + i * 20), 'clockSkew'))
    }
    for (let m = 246; m < 260; m++) events.push(...live(engine, m, 0))
    expect(events).toEqual([])
  })

  it('judges a device that sends its readings in batches on the newest reading of each', () => {
    const engine = createAlarmEngine(source(), undefined, ids)
    const events: AlarmEvent[] = []
    // Every 10 min a batch of the last 10 minutes' readings, from a clock 5 min behind.
    for (let b = 1; b <= 10; b++) {
      const receivedMs = T0 + b * 10 * MINUTE
      const batch = Array.from({ length: 10 }, (_, i) => ({ tsMs: receivedMs - 5 * MINUTE - (9 - i) * MINUTE, tsGiven: true, values: { pressure: 400 + i } }))
      events.push(...ofType(engine.evaluate(pipe, batch, receivedMs), 'clockSkew'))
    }
    expect(events.map((e) => [e.change, e.alarm.value])).toEqual([['raised', -300]])
  })

  it('can be switched off', () => {
    const engine = createAlarmEngine(source({}, ['clockSkew']), undefined, ids)
    const events: AlarmEvent[] = []
    for (let m = 0; m < 20; m++) events.push(...live(engine, m, -5 * MINUTE))
    expect(events).toEqual([])
  })
})

describe('data-quality rules in the rules file', () => {
  it('takes their parameters and enabled, and names the known ones for a misspelt one', () => {
    expect(() => parseRulesFile(JSON.stringify({ kinds: { 'water-pipe': { rules: { stuckSensor: { readings: 5, minSpanSec: 0, forSec: 60 }, clockSkew: { maxSkewSec: 600, readings: 3, clearReadings: 3, sampleSec: 5, paceToleranceSec: 2 } } } }, devices: { 'wp-1': { rules: { clockSkew: { enabled: false } } } } }), 'rules.json')).not.toThrow()
    expect(() => parseRulesFile(JSON.stringify({ districts: { north: { rules: { stuckSensor: { readngs: 5 } } } } }), 'rules.json'))
      .toThrow('rules.json: districts.north.rules.stuckSensor.readngs: unknown parameter (known: readings, minSpanSec, forSec, enabled)')
    expect(() => parseRulesFile(JSON.stringify({ kinds: { manhole: { rules: { clockSkew: { maxSkewSec: '2 min' } } } } }), 'rules.json'))
      .toThrow('rules.json: kinds.manhole.rules.clockSkew.maxSkewSec: must be a number')
  })
})
