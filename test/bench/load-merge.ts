// The results of several load generators that loaded one broker together, as one: counts and
// rates added (each generator's rate is over its own window, and they start together), latency
// percentiles from their histograms merged, generator CPU added (the load's whole cost).
import { summariseMerged } from '../../simulators/load/latency.ts'
import type { LoadResult } from './load-generator.ts'

function sumOf (results: readonly LoadResult[], pick: (r: LoadResult) => number): number {
  return results.reduce(function add (sum, r) { return sum + pick(r) }, 0)
}

/** Needs each result's `latencyHistogram` (the generators ran with keepHistogram). */
export function mergeLoadResults (results: readonly LoadResult[]): LoadResult {
  const first = results[0]
  if (first === undefined) throw new Error('no load results to merge')
  const histograms = results.map(function histogramOf (r) {
    if (r.latencyHistogram === undefined) throw new Error('a load generator sent no latency histogram')
    return r.latencyHistogram
  })
  const { latencyHistogram: _firstHistogram, ...firstFigures } = first
  const clientErrors: Record<string, number> = {}
  for (const r of results) for (const [message, n] of Object.entries(r.clientErrors)) clientErrors[message] = (clientErrors[message] ?? 0) + n
  return {
    ...firstFigures,
    targetRatePerSec: first.targetRatePerSec === null ? null : sumOf(results, function rate (r) { return r.targetRatePerSec ?? 0 }),
    devices: sumOf(results, function devices (r) { return r.devices }),
    connected: sumOf(results, function connected (r) { return r.connected }),
    connectMs: Math.max(...results.map(function connectMs (r) { return r.connectMs })),
    durationSec: Math.min(...results.map(function durationSec (r) { return r.durationSec })),
    published: sumOf(results, function published (r) { return r.published }),
    acked: sumOf(results, function acked (r) { return r.acked }),
    failed: sumOf(results, function failed (r) { return r.failed }),
    unacked: sumOf(results, function unacked (r) { return r.unacked }),
    skipped: sumOf(results, function skipped (r) { return r.skipped }),
    publishedInWindow: sumOf(results, function publishedInWindow (r) { return r.publishedInWindow }),
    ackedInWindow: sumOf(results, function ackedInWindow (r) { return r.ackedInWindow }),
    publishedPerSec: sumOf(results, function publishedPerSec (r) { return r.publishedPerSec }),
    ackedPerSec: sumOf(results, function ackedPerSec (r) { return r.ackedPerSec }),
    latencyMs: summariseMerged(histograms),
    reconnects: sumOf(results, function reconnects (r) { return r.reconnects }),
    unexpectedCloses: sumOf(results, function unexpectedCloses (r) { return r.unexpectedCloses }),
    clientErrors,
    generatorCpuPercent: sumOf(results, function generatorCpuPercent (r) { return r.generatorCpuPercent }),
    generatorLoopDelayP99Ms: Math.max(...results.map(function loopDelay (r) { return r.generatorLoopDelayP99Ms })),
  }
}
