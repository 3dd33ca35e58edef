// Enters: readings of the device models of every kind (simulators/models), as the load generator
// sends them. Leaves: vitest bench figures for the alarm engine with each kind's default rules,
// per reading (one reading per evaluate call, as devices send them).
// Run: npx vitest bench --run test/bench/alarm-engine.bench.ts
import { bench, describe } from 'vitest'
import type { AlarmDevice } from '../../broker/alarms/alarm.ts'
import { createAlarmEngine, type RuleSource } from '../../broker/alarms/engine.ts'
import { kinds, type KindName } from '../../devices/index.ts'
import type { CompiledRule, ReadingView } from '../../devices/define-rule.ts'
import { createModel } from '../../simulators/models/index.ts'

const DEVICES = 200
const READINGS_PER_DEVICE = 64
const STEP_MS = 60_000

// One rule set per kind, shared by its devices, as the rule book does.
const byKind = new Map<string, CompiledRule[]>(Object.values(kinds).map((k) => [k.name, (k.rules ?? []).map((rule) => rule.build(rule.params))]))
const rules: RuleSource = { rulesFor: (device) => byKind.get(device.kind) ?? [], offlineAfterMs: () => 3_600_000 }

const start = Date.UTC(2026, 10, 25)
function workload (kind: KindName): { device: AlarmDevice; readings: ReadingView[] }[] {
  return Array.from({ length: DEVICES }, (_, d) => {
    const device: AlarmDevice = { id: `${kind}-${d}`, kind, district: `d-${d % 8}`, location: { lat: 52, lon: 4 } }
    const model = createModel(kind, { deviceId: device.id, seed: 7, latitudeDeg: 52.37, longitudeDeg: 4.89 })
    const readings = Array.from({ length: READINGS_PER_DEVICE }, (_, n) => {
      const { ts: _ts, ...values } = model.next(start + n * STEP_MS)
      return { tsMs: start + n * STEP_MS, values: values as ReadingView['values'] }
    })
    return { device, readings }
  })
}

// The kinds interleaved, as a gateway sees them: call sites in the engine meet every kind's readings.
const devices = (['lamp-post', 'water-pipe', 'manhole'] as const).flatMap(workload)
devices.sort((a, b) => Number(a.device.id.split('-').at(-1)) - Number(b.device.id.split('-').at(-1)))
describe(`alarm engine, every kind (${devices.length} devices × ${READINGS_PER_DEVICE} readings per iteration)`, () => {
  let round = 0
  const engine = createAlarmEngine(rules, undefined, () => 'id')
  bench('evaluate', () => {
    // One engine throughout, the readings' times moved on each round, so each round is judged anew.
    const shift = ++round * READINGS_PER_DEVICE * STEP_MS
    for (let n = 0; n < READINGS_PER_DEVICE; n++) {
      for (const { device, readings } of devices) {
        const reading = readings[n] as ReadingView
        engine.evaluate(device, [{ tsMs: reading.tsMs + shift, values: reading.values }], start + shift)
      }
    }
  }, { time: 3000 })
})
