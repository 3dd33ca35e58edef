// What one `npm run bench` runs with: the BENCH_* settings (read from env when run.ts asks, never at
// import), the paths it uses and the targets printed beside the figures. Nothing asserts a target.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KindName } from '../../devices/index.ts'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const RESULTS_DIR = join(REPO_ROOT, '.bench')
/** The share of bare Aedes' throughput the gateway aims to keep: auth, validation and storage cost the rest. */
export const TARGET_RATIO = 0.6
export const KINDS: readonly KindName[] = ['lamp-post', 'water-pipe', 'manhole']
/** The performance targets, printed beside each figure. */
export const TARGETS = {
  alarmP99Ms: 25,
  gatewayToPeer: 1.1,
  outageMemoryMb: 50,
  catchUpToIngest: 2,
  bytesPerConnection: 20 * 1024,
} as const

export interface Settings {
  devices: number
  window: number
  warmupSec: number
  durationSec: number
  isProfiling: boolean
  alarmSec: number
  outageSec: number
}

function intFromEnv (name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer in ${min}…${max}, not ${text}`)
  return value
}

/** The BENCH_* variables (test/bench/README.md), checked; throws on a value out of range. */
export function readSettings (): Settings {
  return {
    devices: intFromEnv('BENCH_DEVICES', 200, 1, 5000),
    window: intFromEnv('BENCH_WINDOW', 16, 1, 1000),
    warmupSec: intFromEnv('BENCH_WARMUP_SEC', 2, 0, 60),
    // 30 s: the throughput target is for a rate the gateway sustains, not a burst its buffers absorb;
    // the baselines get the same window so that the ratios compare like with like.
    durationSec: intFromEnv('BENCH_DURATION_SEC', 30, 1, 300),
    isProfiling: process.env.BENCH_PROFILE === '1',
    alarmSec: intFromEnv('BENCH_ALARM_SEC', 10, 1, 120),
    outageSec: intFromEnv('BENCH_OUTAGE_SEC', 30, 1, 300),
  }
}
