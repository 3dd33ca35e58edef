// Phase 5: open-loop load on the gateway while its InfluxDB is stopped and started again on the
// same port and data. Leaves: RSS before and during the outage, spool peak, catch-up time and rate.
import { setTimeout as sleep } from 'node:timers/promises'
import type { BenchGateway } from '../gateway.ts'
import { runLoad, type LoadRun } from '../load-run.ts'
import { memorySplit, metricValue, scrape, spoolDepthOf, type MemorySplit, type SpoolDepth } from '../metrics.ts'
import { rssMb } from '../processes.ts'
import { say } from '../say.ts'
import type { Settings } from '../settings.ts'

export interface OutageRun {
  ratePerSec: number
  outageSec: number
  load: LoadRun
  /**
   * RSS (MB) just before influxd stopped; the most over the same load before it, as long as the
   * outage (what the outage's most is judged against: under load RSS rises and falls by tens of MB
   * with the old generation between full collections, so one sample may catch it low or high);
   * the most during the outage; the most while catching up.
   */
  rssBeforeMb: number
  rssBeforeMaxMb: number
  rssDuringMaxMb: number
  rssCatchUpMaxMb: number
  /** The split just before the stop, at the sample with the most RSS before it, and at the one with the most during the outage. */
  memoryBefore: MemorySplit | undefined
  memoryAtBeforeMax: MemorySplit | undefined
  memoryAtMax: MemorySplit | undefined
  spoolPeakRecords: number
  spoolPeakBytes: number
  /** From influxd answering again to the spool back at its pre-outage depth; null if not within the budget. */
  catchUpMs: number | null
  catchUpLinesPerSec: number
  influxRestartMs: number
}

/** Open-loop load at `ratePerSec`; influxd is stopped for `settings.outageSec` in the middle of it. */
export async function runOutagePhase (gw: BenchGateway, ratePerSec: number, settings: Settings, tmp: string): Promise<OutageRun> {
  const influx = gw.influx
  const outageSec = settings.outageSec
  const catchUpBudgetSec = Math.max(30, 2 * outageSec)
  // Load before the stop, as long as the outage: the gateway's RSS and spool depth at that rate without one.
  const preSec = outageSec
  say(`outage: load at ${ratePerSec} msgs/s, InfluxDB stopped for ${outageSec} s after ${preSec} s…`)
  const result: Omit<OutageRun, 'load'> = {
    ratePerSec, outageSec, rssBeforeMb: Number.NaN, rssBeforeMaxMb: 0, rssDuringMaxMb: 0, rssCatchUpMaxMb: 0,
    memoryBefore: undefined, memoryAtBeforeMax: undefined, memoryAtMax: undefined,
    spoolPeakRecords: 0, spoolPeakBytes: 0, catchUpMs: null, catchUpLinesPerSec: 0, influxRestartMs: 0,
  }
  async function sample (): Promise<{ rss: number; depth: SpoolDepth; written: number; memory: MemorySplit }> {
    const text = await scrape(gw.httpUrl)
    const depth = spoolDepthOf(text)
    result.spoolPeakRecords = Math.max(result.spoolPeakRecords, depth.records)
    result.spoolPeakBytes = Math.max(result.spoolPeakBytes, depth.bytes)
    const rss = rssMb(gw.process.pid)
    return { rss, depth, written: metricValue(text, 'citygw_influx_lines_written_total') ?? 0, memory: memorySplit(text, rss) }
  }
  let influxDown = false
  try {
    const load = await runLoad('gateway-outage', gw.mqttUrl, gw.process.pid, gw.loadDevices, settings, tmp, {
      ratePerSec,
      warmupSec: 1,
      durationSec: preSec + outageSec + catchUpBudgetSec + 5,
      async onWindowStart (stopLoad) {
        let preDepthMax = 0
        const preEnd = performance.now() + preSec * 1000
        while (performance.now() < preEnd) {
          const s = await sample()
          if (s.rss > result.rssBeforeMaxMb) {
            result.rssBeforeMaxMb = s.rss
            result.memoryAtBeforeMax = s.memory
          }
          result.rssBeforeMb = s.rss
          result.memoryBefore = s.memory
          preDepthMax = Math.max(preDepthMax, s.depth.records)
          await sleep(250)
        }
        const peakBefore = result.spoolPeakRecords
        say(`  stopping InfluxDB (RSS ${result.rssBeforeMb} MB, at most ${result.rssBeforeMaxMb} MB over ${preSec} s; spool ${preDepthMax} records)…`)
        influxDown = true
        await influx.stop()
        const outageEnd = performance.now() + outageSec * 1000
        while (performance.now() < outageEnd) {
          const s = await sample()
          if (s.rss > result.rssDuringMaxMb) {
            result.rssDuringMaxMb = s.rss
            result.memoryAtMax = s.memory
          }
          await sleep(250)
        }
        const restartStart = performance.now()
        await influx.start()
        influxDown = false
        const returnedAt = performance.now()
        result.influxRestartMs = Math.round(returnedAt - restartStart)
        const writtenAtReturn = (await sample()).written
        say(`  InfluxDB back (spool ${result.spoolPeakRecords} records at most); catching up…`)
        // Caught up = the spool is back to the depth it had under the same load before the outage.
        const caughtUpDepth = Math.max(preDepthMax, peakBefore, Math.ceil(ratePerSec / 2))
        const budgetEnd = returnedAt + catchUpBudgetSec * 1000
        while (performance.now() < budgetEnd) {
          const s = await sample()
          result.rssCatchUpMaxMb = Math.max(result.rssCatchUpMaxMb, s.rss)
          if (s.depth.records <= caughtUpDepth) {
            result.catchUpMs = Math.round(performance.now() - returnedAt)
            result.catchUpLinesPerSec = Math.round((s.written - writtenAtReturn) / Math.max(0.001, result.catchUpMs / 1000))
            break
          }
          await sleep(100)
        }
        stopLoad()
      },
    })
    return { ...result, load }
  } finally {
    if (influxDown) await influx.start()
  }
}
