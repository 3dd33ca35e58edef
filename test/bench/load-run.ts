// One run of the load generator (its own process; with BENCH_GENERATORS > 1 several, each with a
// share of the devices, started together) against a broker, with the broker's CPU over the measured
// window; and the bench's fleet of devices. Leaves: the generators' result plus CPU figures.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { KindName } from '../../devices/index.ts'
import { cpuBetween, cpuMicrosPerMessage, cpuSnapshot, type CpuWindow } from './cpu.ts'
import type { ProfileWindow } from './cpu-profile.ts'
import type { LocalInfluxDb } from '../../simulators/local-influxdb.ts'
import type { LoadResult, LoadSpec } from './load-generator.ts'
import { mergeLoadResults } from './load-merge.ts'
import { startProcess, type BenchProcess } from './processes.ts'
import { say } from './say.ts'
import { KINDS, REPO_ROOT, type Settings } from './settings.ts'

export type LoadRun = LoadResult & CpuWindow & {
  /** Each load generator's CPU (% of one core) over its window; `generatorCpuPercent` is their sum. */
  generatorCpuPercents: number[]
  loadEndAtMs: number
  span: ProfileWindow
}
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
  /** Connects in flight at once (default 20). */
  connectConcurrency?: number
  /** Lean generator: each connection publishes as soon as it is connected (LoadSpec.startOnConnect). */
  startOnConnect?: boolean
  /** Lean generator: acked count and CPU sampled this often (the result's `timeline`), for a rate over part of the window. */
  timelineEveryMs?: number
}

/** What the quick scripts (quick.ts, open-loop.ts) print of a run: rate, CPU per message of each process, PUBACK latency. */
export function loadFigures (load: LoadRun): Record<string, unknown> {
  return {
    ackedPerSec: load.ackedPerSec,
    brokerCpuPercent: load.brokerCpuPercent,
    brokerUsPerMessage: cpuMicrosPerMessage(load.brokerCpuPercent, load.ackedPerSec),
    databaseUsPerMessage: cpuMicrosPerMessage(load.databaseCpuPercent, load.ackedPerSec),
    generatorCpuPercent: load.generatorCpuPercent,
    machineCpuPercent: load.machineCpuPercent,
    skipped: load.skipped,
    pubackMs: load.latencyMs,
  }
}

/** Runs the load generator(s) against `url` and waits for the result; the generators are stopped either way. */
export async function runLoad (
  name: string, url: string, brokerPid: number, devices: LoadDevices, settings: Settings, tmp: string,
  phase: LoadPhase = {},
): Promise<LoadRun> {
  const warmupSec = phase.warmupSec ?? settings.warmupSec
  const durationSec = phase.durationSec ?? settings.durationSec
  const isOpenLoop = phase.ratePerSec !== undefined
  const fleet = devices.slice(0, isOpenLoop ? settings.openLoopDevices : settings.devices)
  const count = Math.min(settings.generators, fleet.length)
  const isSplit = count > 1
  const specs = Array.from({ length: count }, function specOf (_, index): LoadSpec {
    return {
      url,
      // Every count-th device: each generator gets the kinds in the same proportions.
      devices: fleet.filter(function isMine (_d, i) { return i % count === index }),
      warmupSec,
      durationSec,
      // Open loop is what devices in the field do: one message at a time, the next only after its
      // PUBACK (a turn that finds the device still waiting is skipped and counted as such).
      window: isOpenLoop ? 1 : settings.window,
      ...(phase.ratePerSec === undefined ? {} : { ratePerSec: phase.ratePerSec / count }),
      connectConcurrency: phase.connectConcurrency ?? 20,
      drainTimeoutSec: 15,
      seed: 7 + index,
      ...(isSplit ? { holdUntilGo: true, keepHistogram: true } : {}),
      ...(phase.timelineEveryMs === undefined ? {} : { timelineEveryMs: phase.timelineEveryMs }),
      ...(phase.startOnConnect === undefined ? {} : { startOnConnect: phase.startOnConnect }),
    }
  })
  // The lean generator unless told otherwise: MQTT.js costs the generator more than the broker it measures.
  const script = settings.generator === 'lean' ? 'lean-generator.ts' : 'load-generator.ts'
  const generators: BenchProcess[] = []
  try {
    for (const [index, spec] of specs.entries()) {
      const suffix = isSplit ? `-${index}` : ''
      const specFile = join(tmp, `load-${name}${suffix}.json`)
      await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 })
      generators.push(startProcess(`load generator (${name}${suffix})`, ['--import', 'tsx', join(REPO_ROOT, 'test/bench', script), specFile], { cwd: REPO_ROOT, env: process.env }))
    }
    function allLines<T> (type: string, timeoutMs: number): Promise<T[]> {
      return Promise.all(generators.map(function waitFor (g) { return g.waitForLine<T>(function isType (l) { return l.type === type }, timeoutMs) }))
    }
    function tellAll (command: string): void {
      for (const g of generators) g.child.stdin?.write(`${command}\n`)
    }
    const connectTimeoutMs = 30_000 + fleet.length * 100
    const connected = await allLines<{ connected: number; connectMs: number }>('connected', connectTimeoutMs)
    const connections = connected.reduce(function add (sum, c) { return sum + c.connected }, 0)
    const connectMs = Math.max(...connected.map(function ms (c) { return c.connectMs }))
    say(`  ${connections} connections in ${connectMs} ms${isSplit ? ` from ${count} load generators` : ''}; warm-up ${warmupSec} s, then ${durationSec} s measured${phase.ratePerSec === undefined ? '' : ` at ${phase.ratePerSec} msgs/s`}`)
    if (isSplit) tellAll('go')
    await allLines('windowStart', (warmupSec + 30) * 1000)
    const start = cpuSnapshot(brokerPid, phase.database?.pid)
    await phase.onWindowStart?.(function stopLoad () { tellAll('stop') })
    await allLines('loadEnd', (durationSec + 30) * 1000)
    const end = cpuSnapshot(brokerPid, phase.database?.pid)
    const loadEndAtMs = performance.now()
    await phase.onLoadEnd?.()
    const results = await allLines<LoadResult>('result', ((specs[0]?.drainTimeoutSec ?? 15) + 30) * 1000)
    const result = isSplit ? mergeLoadResults(results) : results[0] as LoadResult
    return {
      ...result,
      ...cpuBetween(start, end),
      generatorCpuPercents: results.map(function cpuOf (r) { return r.generatorCpuPercent }),
      loadEndAtMs,
      span: { startUs: start.monotonicUs, endUs: end.monotonicUs },
    }
  } finally {
    await Promise.all(generators.map(function stop (g) { return g.stop(3000) }))
  }
}

export interface BenchDevice { id: string; kind: KindName; district: string }

/** `count` devices, the kinds in turn, spread over 8 districts: the same fleet for every broker. */
export function makeDevices (count: number): BenchDevice[] {
  return Array.from({ length: count }, function makeDevice (_, i) {
    return { id: `bench-${String(i).padStart(5, '0')}`, kind: KINDS[i % KINDS.length] as KindName, district: `district-${i % 8}` }
  })
}
