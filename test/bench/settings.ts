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
/**
 * A load generator busier than this (% of one core, over the measured window) may itself have been
 * the limit: `--cluster` reports such a phase as invalid instead of giving its figures.
 */
export const GENERATOR_CPU_LIMIT_PERCENT = 60
/** The performance targets, printed beside each figure. */
export const TARGETS = {
  /** Alarm latency p99 in open loop at half and at a quarter of the gateway's closed-loop throughput. */
  alarmP99HalfMs: 50,
  alarmP99QuarterMs: 25,
  gatewayToPeer: 1.1,
  outageMemoryMb: 50,
  catchUpToIngest: 2,
  bytesPerConnection: 20 * 1024,
  /** Reconnect storm: from "gateway started" until every device has its CONNACK / its reading's PUBACK. */
  stormAllConnectedSec: 30,
  stormAllAckedSec: 30,
} as const

export interface Settings {
  /** Devices = connections of the closed-loop phases. */
  devices: number
  /**
   * Devices of the open-loop phases (alarm latency, outage): each sends one message at a time, as
   * devices in the field do, so a rate needs enough of them that none is still waiting for its
   * PUBACK when its turn comes.
   */
  openLoopDevices: number
  window: number
  /** Load generator processes sharing the devices. */
  generators: number
  /** Closed-loop phases: `lean` (raw sockets, lean-generator.ts) or `mqttjs` (the simulator's load mode); open loop is always MQTT.js. */
  generator: 'lean' | 'mqttjs'
  warmupSec: number
  durationSec: number
  isProfiling: boolean
  alarmSec: number
  outageSec: number
}

function generatorFromEnv (): 'lean' | 'mqttjs' {
  const text = process.env.BENCH_GENERATOR ?? 'lean'
  if (text !== 'lean' && text !== 'mqttjs') throw new Error(`BENCH_GENERATOR must be lean or mqttjs, not ${text}`)
  return text
}

function intFromEnv (name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer in ${min}…${max}, not ${text}`)
  return value
}

/** What a mode of the bench runs with when the BENCH_* variable is unset. */
export interface SettingDefaults { durationSec: number, generators: number }

/** `npm run bench`: 30 s, the same window for the baselines and the gateway so that ratios compare like with like. */
export const FULL_BENCH_DEFAULTS: SettingDefaults = { durationSec: 30, generators: 1 }
/**
 * `npm run bench -- --cluster`: five phases in ~3 minutes; two generators, because one alone uses
 * 42–59 % of a core here, at the edge of GENERATOR_CPU_LIMIT_PERCENT, and its late answers come in
 * bursts that make the gateway's reads cheaper than devices make them (test/bench/README.md).
 */
export const CLUSTER_BENCH_DEFAULTS: SettingDefaults = { durationSec: 20, generators: 2 }

/**
 * `--cluster`'s open-loop run, after the closed loop: the same rate for every topology (below the
 * slowest one's closed-loop throughput on a 2-core box), each device one message at a time.
 */
export const CLUSTER_OPEN_LOOP = { ratePerSec: 5000, warmupSec: 1, durationSec: 8 } as const

/** The BENCH_* variables (test/bench/README.md), checked; throws on a value out of range. */
export function readSettings (defaults: SettingDefaults = FULL_BENCH_DEFAULTS): Settings {
  return {
    devices: intFromEnv('BENCH_DEVICES', 200, 1, 5000),
    openLoopDevices: intFromEnv('BENCH_OPEN_LOOP_DEVICES', 2000, 1, 10000),
    window: intFromEnv('BENCH_WINDOW', 16, 1, 1000),
    generators: intFromEnv('BENCH_GENERATORS', defaults.generators, 1, 8),
    generator: generatorFromEnv(),
    warmupSec: intFromEnv('BENCH_WARMUP_SEC', 2, 0, 60),
    // The throughput target is for a rate the gateway sustains, not a burst its buffers absorb.
    durationSec: intFromEnv('BENCH_DURATION_SEC', defaults.durationSec, 1, 300),
    isProfiling: process.env.BENCH_PROFILE === '1',
    alarmSec: intFromEnv('BENCH_ALARM_SEC', 10, 1, 120),
    outageSec: intFromEnv('BENCH_OUTAGE_SEC', 30, 1, 300),
  }
}
