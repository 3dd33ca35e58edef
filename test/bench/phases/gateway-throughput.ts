// Phase 3: the gateway's closed-loop throughput under the same load as the baselines, then the
// spool drained and the points counted in InfluxDB (stored = acked, or data was lost).
import { setTimeout as sleep } from 'node:timers/promises'
import type { BenchGateway } from '../gateway.ts'
import { countStored, type StoredCount } from '../influx-count.ts'
import { runLoad, type LoadRun } from '../load-run.ts'
import { metricValue, scrape, spoolDepthOf, type SpoolDepth } from '../metrics.ts'
import { say } from '../say.ts'
import type { Settings } from '../settings.ts'

export const DRAIN_TIMEOUT_MS = 60_000

export interface ThroughputRun {
  load: LoadRun
  spoolAtLoadEnd: SpoolDepth
  spoolMax: SpoolDepth
  drainMs: number | null
  stored: StoredCount
  /** The gateway's counters once the spool drained. */
  metrics: Record<string, number | undefined>
  /** How many lines the gateway had logged by then: the later phases' warnings are theirs. */
  logLines: number
}

export async function runThroughput (gw: BenchGateway, settings: Settings, tmp: string): Promise<ThroughputRun> {
  // Spool depth once a second during the load, to see whether the writer keeps up.
  const spoolMax: SpoolDepth = { records: 0, bytes: 0 }
  let isSampling = true
  const sampling = (async function sampleSpool () {
    while (isSampling) {
      try {
        const depth = spoolDepthOf(await scrape(gw.httpUrl))
        spoolMax.records = Math.max(spoolMax.records, depth.records)
        spoolMax.bytes = Math.max(spoolMax.bytes, depth.bytes)
      } catch (err) {
        // A missed sample only lowers the maximum seen; a dead gateway fails the load itself.
        say(`  /metrics sample failed: ${err instanceof Error ? err.message : String(err)}`)
      }
      await sleep(1000)
    }
  })()

  let spoolAtLoadEnd: SpoolDepth = { records: Number.NaN, bytes: Number.NaN }
  let load: LoadRun
  try {
    load = await runLoad('gateway', gw.mqttUrl, gw.process.pid, gw.loadDevices, settings, tmp, {
      database: gw.influx,
      async onLoadEnd () { spoolAtLoadEnd = spoolDepthOf(await scrape(gw.httpUrl)) },
    })
  } finally {
    isSampling = false
    await sampling
  }
  spoolMax.records = Math.max(spoolMax.records, spoolAtLoadEnd.records)
  spoolMax.bytes = Math.max(spoolMax.bytes, spoolAtLoadEnd.bytes)

  say('  waiting for the writer to drain the spool…')
  let drainMs: number | null = null
  const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS
  while (performance.now() < drainDeadline) {
    if (spoolDepthOf(await scrape(gw.httpUrl)).records === 0) {
      drainMs = Math.round(performance.now() - load.loadEndAtMs)
      break
    }
    await sleep(200)
  }
  // InfluxDB 1.x answers a write once it is in its WAL and queryable; a short grace all the same.
  let stored = await countStored(gw.influx)
  for (let attempt = 0; attempt < 10 && stored.total < load.acked; attempt++) {
    await sleep(300)
    stored = await countStored(gw.influx)
  }
  const text = await scrape(gw.httpUrl)
  const metrics = {
    readingsAccepted: metricValue(text, 'citygw_readings_total', 'outcome="accepted"') ?? 0,
    readingsRejected: metricValue(text, 'citygw_readings_total', 'outcome="rejected"') ?? 0,
    influxLinesWritten: metricValue(text, 'citygw_influx_lines_written_total') ?? 0,
    influxRetries: metricValue(text, 'citygw_influx_retries_total') ?? 0,
    influxQuarantined: metricValue(text, 'citygw_influx_quarantined_lines_total') ?? 0,
    spoolFullRefusals: metricValue(text, 'citygw_spool_full_refusals_total') ?? 0,
    aclDenials: metricValue(text, 'citygw_acl_denials_total', 'action="publish"') ?? 0,
  }
  return { load, spoolAtLoadEnd, spoolMax, drainMs, stored, metrics, logLines: gw.process.lines().length }
}
