// A scenario: a field fault injected on one device from a simulated time on. In: the reading the
// healthy model produced and how long the fault has lasted. Out: the reading to send instead, no
// reading (silence), or a raw payload (broken firmware). Each names the alarm it must raise (a default rule of devices/).
import type { KindName } from '../../devices/index.ts'
import type { ReadingByKind } from '../models/index.ts'

export type ScenarioOutcome<R> =
  | { readonly type: 'reading'; readonly reading: R }
  | { readonly type: 'silent' }
  | { readonly type: 'raw'; readonly payload: string }

export interface FaultContext {
  /** Simulated ms since the fault began. */
  readonly sinceMs: number
  /** Simulated duration of the fault, or undefined when it lasts to the end of the run. */
  readonly durationMs: number | undefined
  /** The device's own deterministic stream for the fault's noise. */
  readonly random: () => number
  /** Readings produced since the fault began (0 for the first). */
  readonly count: number
}

export type FaultHandler<K extends KindName> = (reading: ReadingByKind[K], ctx: FaultContext) => ScenarioOutcome<ReadingByKind[K]>

export interface Scenario {
  readonly name: string
  /** The default alarm type this fault raises; undefined when it must raise none. */
  readonly alarm: string | undefined
  readonly description: string
  /** Default length of the fault in simulated ms; undefined = until the end of the run. */
  readonly defaultDurationMs: number | undefined
  readonly handlers: { readonly [K in KindName]?: FaultHandler<K> }
}

export function defineScenario (scenario: Scenario): Scenario {
  return Object.freeze(scenario)
}

export function send<R> (reading: R): ScenarioOutcome<R> {
  return { type: 'reading', reading }
}

/**
 * How far a fault has developed, 0…1: rises linearly over `rampMs`, holds, and when the fault has
 * a duration falls back over its last `rampMs` (a flood that recedes, a gas pocket that vents).
 */
export function envelope (ctx: FaultContext, rampMs: number): number {
  const rising = Math.min(1, ctx.sinceMs / rampMs)
  if (ctx.durationMs === undefined) return rising
  const falling = Math.min(1, Math.max(0, (ctx.durationMs - ctx.sinceMs) / rampMs))
  return Math.min(rising, falling)
}

export const MINUTE_MS = 60_000
