// Load generator for `npm run bench`, in its own process: the simulator's load mode
// (simulators/load/run-load.ts, the same code as `citygw simulate --load`) in closed loop — one
// MQTT.js connection per device, `window` QoS 1 publishes in flight on each. Enters: a JSON spec
// file (argv[2]). Leaves: JSON lines on stdout — {type:'connected'}, {type:'windowStart'},
// {type:'loadEnd'} the moment it stops publishing, {type:'result'} at the end. Exits by itself.
// A `stop` line on stdin ends the load early (the measured window is then shorter). With
// `holdUntilGo` it waits for a `go` line once connected, so that several generators start together.
import { readFileSync } from 'node:fs'
import type { KindName } from '../../devices/index.ts'
import { runLoad, type LoadResult as SimulatorLoadResult } from '../../simulators/load/run-load.ts'

export interface LoadSpec {
  url: string
  devices: { id: string; secret: string; kind: KindName }[]
  warmupSec: number
  durationSec: number
  /** QoS 1 publishes in flight per connection. */
  window: number
  /** Open loop at this total rate (msgs/s); absent = closed loop, as fast as the window allows. */
  ratePerSec?: number
  connectConcurrency: number
  /** Longest wait for the publishes in flight once the load stops. */
  drainTimeoutSec: number
  seed: number
  /** Once connected, wait for `go` on stdin before loading. */
  holdUntilGo?: boolean
  /** Add the latency histogram to the result (for merging several generators' latencies). */
  keepHistogram?: boolean
  /**
   * Lean generator only: each connection starts publishing the moment it is connected, not once
   * all are (the measured window still starts after the last connect). For load that must already
   * run while connections keep arriving.
   */
  startOnConnect?: boolean
  /** Lean generator only: sample `[epoch ms, acked so far, CPU ms so far]` this often into the result's `timeline`. */
  timelineEveryMs?: number
}

export type LoadResult = SimulatorLoadResult & { type: 'result'; timeline?: [number, number, number][] }

function emit (line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

async function main (): Promise<void> {
  const specFile = process.argv[2]
  if (specFile === undefined) throw new Error('usage: load-generator.ts <spec.json>')
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as LoadSpec
  // Hard stop: connect + warm-up + measure + drain + slack; never outlive a runner gone astray.
  const limitMs = (spec.warmupSec + spec.durationSec + spec.drainTimeoutSec + 60) * 1000 + spec.devices.length * 100
  setTimeout(function giveUp () {
    process.stderr.write(`load generator: still running after ${limitMs} ms, exiting\n`)
    process.exit(2)
  }, limitMs).unref()
  const early = new AbortController()
  let go: () => void = function notYet () { /* replaced below */ }
  const isGo = new Promise<void>(function waitForGo (resolve) { go = resolve })
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', function onCommand (text: string) {
    if (text.includes('go')) go()
    if (text.includes('stop')) early.abort()
  })
  const result = await runLoad({
    signal: early.signal,
    url: spec.url,
    devices: spec.devices,
    qos: 1,
    window: spec.window,
    ratePerSec: spec.ratePerSec,
    warmupMs: spec.warmupSec * 1000,
    durationMs: spec.durationSec * 1000,
    drainTimeoutMs: spec.drainTimeoutSec * 1000,
    connectConcurrency: spec.connectConcurrency,
    seed: spec.seed,
    onPhase: function emitPhase (phase, figures) { emit({ type: phase, ...figures }) },
    ...(spec.holdUntilGo === true ? { beforeLoad () { return isGo } } : {}),
    keepHistogram: spec.keepHistogram === true,
  })
  emit({ type: 'result', ...result })
  process.exit(0)
}

main().catch(function failed (err: unknown) {
  process.stderr.write(`load generator failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
