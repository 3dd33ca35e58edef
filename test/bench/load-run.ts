// One run of the load generator (its own process) against a broker, with the broker's CPU over the
// measured window; and the bench's fleet of devices. Leaves: the generator's result plus CPU figures.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { KindName } from '../../devices/index.ts'
import { cpuBetween, cpuSnapshot, type CpuWindow } from './cpu.ts'
import type { ProfileWindow } from './cpu-profile.ts'
import type { LocalInfluxDb } from '../../simulators/local-influxdb.ts'
import type { LoadResult, LoadSpec } from './load-generator.ts'
import { startProcess } from './processes.ts'
import { say } from './say.ts'
import { KINDS, REPO_ROOT, type Settings } from './settings.ts'

export type LoadRun = LoadResult & CpuWindow & { loadEndAtMs: number; span: ProfileWindow }
export type LoadDevices = LoadSpec['devices']

export interface LoadPhase {
  /** Open loop at this rate instead of closed loop. */
  ratePerSec?: number
  warmupSec?: number
  durationSec?: number
  /** Runs the moment the measured window starts; `stopLoad` ends the load before durationSec. */
  onWindowStart?: (stopLoad: () => void) => Promise<void> | void
  /** Runs the moment the generator stops publishing (the spool depth is read there). */
  onLoadEnd?: () => Promise<void> | void
  /** The InfluxDB the broker writes to: its CPU is measured over the same window. */
  database?: LocalInfluxDb
}

/** Runs the load generator against `url` and waits for its result; the generator is stopped either way. */
export async function runLoad (
  name: string, url: string, brokerPid: number, devices: LoadDevices, settings: Settings, tmp: string,
  phase: LoadPhase = {},
): Promise<LoadRun> {
  const warmupSec = phase.warmupSec ?? settings.warmupSec
  const durationSec = phase.durationSec ?? settings.durationSec
  const spec: LoadSpec = {
    url,
    devices,
    warmupSec,
    durationSec,
    window: settings.window,
    ...(phase.ratePerSec === undefined ? {} : { ratePerSec: phase.ratePerSec }),
    connectConcurrency: 20,
    drainTimeoutSec: 15,
    seed: 7,
  }
  const specFile = join(tmp, `load-${name}.json`)
  await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 })
  const generator = startProcess(`load generator (${name})`, ['--import', 'tsx', join(REPO_ROOT, 'test/bench/load-generator.ts'), specFile], { cwd: REPO_ROOT, env: process.env })
  try {
    const connectTimeoutMs = 30_000 + settings.devices * 100
    const connected = await generator.waitForLine<{ connected: number; connectMs: number }>(function isConnected (l) { return l.type === 'connected' }, connectTimeoutMs)
    say(`  ${connected.connected} connections in ${connected.connectMs} ms; warm-up ${warmupSec} s, then ${durationSec} s measured${phase.ratePerSec === undefined ? '' : ` at ${phase.ratePerSec} msgs/s`}`)
    await generator.waitForLine(function isWindowStart (l) { return l.type === 'windowStart' }, (warmupSec + 30) * 1000)
    const start = cpuSnapshot(brokerPid, phase.database?.pid)
    await phase.onWindowStart?.(function stopLoad () { generator.child.stdin?.write('stop\n') })
    await generator.waitForLine(function isLoadEnd (l) { return l.type === 'loadEnd' }, (durationSec + 30) * 1000)
    const end = cpuSnapshot(brokerPid, phase.database?.pid)
    const loadEndAtMs = performance.now()
    await phase.onLoadEnd?.()
    const result = await generator.waitForLine<LoadResult>(function isResult (l) { return l.type === 'result' }, (spec.drainTimeoutSec + 30) * 1000)
    return { ...result, ...cpuBetween(start, end), loadEndAtMs, span: { startUs: start.monotonicUs, endUs: end.monotonicUs } }
  } finally {
    await generator.stop(3000)
  }
}

export interface BenchDevice { id: string; kind: KindName; district: string }

/** `count` devices, the kinds in turn, spread over 8 districts: the same fleet for every broker. */
export function makeDevices (count: number): BenchDevice[] {
  return Array.from({ length: count }, function makeDevice (_, i) {
    return { id: `bench-${String(i).padStart(5, '0')}`, kind: KINDS[i % KINDS.length] as KindName, district: `district-${i % 8}` }
  })
}
