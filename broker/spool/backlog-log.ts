// While readings pile up in the spool (InfluxDB down or unset), one log line every period with the
// backlog's depth and age, so operators see it growing without watching metrics.
import type { Logger } from '../log.ts'
import type { Spool } from './spool.ts'

export function logSpoolBacklog (spool: Pick<Spool, 'stats'>, isDelivering: () => boolean, periodMs: number, log: Logger): { close(): void } {
  const timer = setInterval(function logBacklog () {
    const stats = spool.stats()
    if (stats.depthRecords === 0 || isDelivering()) return
    log.warn({ depthRecords: stats.depthRecords, depthBytes: stats.depthBytes, oldestAgeSec: Math.round((stats.oldestRecordAgeMs ?? 0) / 1000) }, 'readings waiting in the spool')
  }, periodMs)
  timer.unref()
  return { close () { clearInterval(timer) } }
}
