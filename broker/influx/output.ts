// The InfluxDB output as the gateway runs it: the sink for the configured API, the writer that
// drains the spool into it, and the writer's figures in the metrics. Undefined without INFLUX_URL:
// readings then wait in the spool.
import path from 'node:path'
import { INFLUX_RETRY, type Config } from '../config.ts'
import type { Metrics } from '../http/metrics.ts'
import type { Logger } from '../log.ts'
import type { Spool } from '../spool/spool.ts'
import { influxConnectionOf, type InfluxConnection } from './connection.ts'
import { createSink } from './create-sink.ts'
import type { Quarantine } from './quarantine.ts'
import { createFileQuarantine } from './quarantine-file.ts'
import { createWriter, type Writer } from './writer.ts'

export interface InfluxOutput {
  connection: InfluxConnection
  writer: Writer
  /** Stops the writer (after its current batch), then the sink. */
  close(): Promise<void>
}

/** `quarantine`: where refused lines go; without it, `DATA_DIR/quarantine.jsonl` (a cluster passes its shared stream). */
export function startInfluxOutput (config: Config, spool: Spool, metrics: Metrics, log: Logger, quarantine?: Quarantine): InfluxOutput | undefined {
  const connection = influxConnectionOf(config)
  if (connection === undefined) {
    log.warn({ spoolDir: path.join(config.DATA_DIR, 'spool') }, 'INFLUX_URL is not set: readings wait in the spool')
    return undefined
  }
  const sink = createSink({ ...connection, log })
  const writer = createWriter({
    spool,
    sink,
    batchLines: config.INFLUX_BATCH_LINES,
    flushIntervalMs: config.INFLUX_FLUSH_MS,
    ...INFLUX_RETRY,
    quarantine: quarantine ?? createFileQuarantine(path.join(config.DATA_DIR, 'quarantine.jsonl')),
    log,
    metrics: {
      onWrite (lines, seconds) {
        metrics.influxLinesWritten.inc(lines)
        metrics.influxWriteSeconds.observe(seconds)
      },
      onRetry () { metrics.influxRetries.inc() },
      onQuarantine (lines) { metrics.influxQuarantined.inc(lines) },
    },
  })
  writer.start()
  return {
    connection,
    writer,
    async close () {
      try {
        await writer.close()
      } finally {
        await sink.close()
      }
    },
  }
}
