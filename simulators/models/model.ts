// What every device model shares: where and who the device is (in), and a `next(timeMs)` that
// returns its reading at that simulated time (out). Models are pure functions of their seed and
// the times asked for, so a seed repeats a run; time only moves forward.
import type { KindName, LampPostReading, ManholeReading, WaterPipeReading } from '../../devices/index.ts'

/** The validated reading type of each kind (z.infer of the devices/ schemas). */
export interface ReadingByKind {
  'lamp-post': LampPostReading
  'water-pipe': WaterPipeReading
  manhole: ManholeReading
}

export interface ModelContext {
  readonly deviceId: string
  /** The run's seed; the model derives its own stream from it and its device id. */
  readonly seed: number
  /** Latitude in degrees (north positive): gives dusk and dawn. */
  readonly latitudeDeg: number
  /** Longitude in degrees (east positive): gives local solar time. */
  readonly longitudeDeg: number
}

export interface DeviceModel<K extends KindName = KindName> {
  readonly kind: K
  /** The reading at simulated time `timeMs` (epoch ms, later than the previous call's), with `ts` and `seq`. */
  next(timeMs: number): ReadingByKind[K]
}

/** Hours since the previous reading, 0 for the first; never negative. */
export function hoursSince (previousMs: number | undefined, timeMs: number): number {
  return previousMs === undefined ? 0 : Math.max(0, timeMs - previousMs) / 3_600_000
}
