// What one simulated device sends at each simulated time: its healthy model's reading, passed
// through the faults injected on it while they last. In: epoch ms. Out: a JSON payload, or nothing
// (a silent device). Deterministic for a given seed: real-time jitter never changes a payload.
import type { KindName } from '../devices/index.ts'
import { createModel, type ReadingByKind } from './models/index.ts'
import { createRandom, deviceSeed } from './random.ts'
import type { FaultContext, Injection, ScenarioOutcome } from './scenarios/index.ts'
import type { FaultHandler } from './scenarios/scenario.ts'

export interface SimDevice {
  readonly id: string
  readonly kind: KindName
  readonly district: string
  readonly lat: number
  readonly lon: number
}

export type Emission =
  | { readonly type: 'reading'; readonly payload: string; readonly reading: ReadingByKind[KindName] }
  | { readonly type: 'raw'; readonly payload: string }
  | { readonly type: 'silent' }

export interface DeviceScript {
  readonly device: SimDevice
  /** The emission at `timeMs`, which must be later than the previous call's. */
  emit(timeMs: number): Emission
}

export function createDeviceScript (device: SimDevice, seed: number, injections: readonly Injection[]): DeviceScript {
  const model = createModel(device.kind, { deviceId: device.id, seed, latitudeDeg: device.lat, longitudeDeg: device.lon })
  const mine = injections.filter(function isMine (i) { return i.deviceId === device.id })
  const faultRandom = createRandom(deviceSeed(seed, device.id, 'fault'))
  const counts = mine.map(function zero () { return 0 })

  return {
    device,
    emit (timeMs) {
      let outcome: ScenarioOutcome<ReadingByKind[KindName]> = { type: 'reading', reading: model.next(timeMs) }
      for (const [index, injection] of mine.entries()) {
        if (outcome.type !== 'reading' || timeMs < injection.startMs || timeMs >= injection.endMs) continue
        const handler = injection.scenario.handlers[device.kind] as FaultHandler<KindName> | undefined
        if (handler === undefined) continue
        const ctx: FaultContext = {
          sinceMs: timeMs - injection.startMs,
          durationMs: Number.isFinite(injection.endMs) ? injection.endMs - injection.startMs : undefined,
          random: faultRandom,
          count: counts[index] ?? 0,
        }
        counts[index] = ctx.count + 1
        outcome = handler(outcome.reading, ctx)
      }
      if (outcome.type === 'reading') return { type: 'reading', reading: outcome.reading, payload: JSON.stringify(outcome.reading) }
      return outcome
    },
  }
}
