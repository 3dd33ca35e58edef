// Module options as the gateway passes them with every setting at its default: built from
// configSchema, so a test that does not care about a value gets the one operators get.
import { configSchema, INFLUX_RETRY, MAX_FUTURE_MS, TELEMETRY_LOG } from '../../broker/config.ts'

const config = configSchema.parse({})
const DAY_MS = 24 * 60 * 60 * 1000

/** openSpool's quota, segment size and group commit window. */
export const spoolDefaults = Object.freeze({
  maxBytes: config.SPOOL_MAX_BYTES,
  segmentBytes: config.SPOOL_SEGMENT_BYTES,
  groupCommitMs: config.SPOOL_GROUP_COMMIT_MS,
})

/** createWriter's batch size, flush window and retry timing. */
export const writerDefaults = Object.freeze({
  batchLines: config.INFLUX_BATCH_LINES,
  flushIntervalMs: config.INFLUX_FLUSH_MS,
  ...INFLUX_RETRY,
})

/** openTelemetryLog's timings and bounds, with the stream's max_bytes at SPOOL_MAX_BYTES. */
export const telemetryLogDefaults = Object.freeze({
  ...TELEMETRY_LOG,
  ackWaitMs: config.NATS_ACK_WAIT_MS,
  maxBytes: config.SPOOL_MAX_BYTES,
})

/** validateTelemetry's limits (without nowMs). */
export const validateDefaults = Object.freeze({
  maxFutureMs: MAX_FUTURE_MS,
  backfillMs: config.BACKFILL_DAYS * DAY_MS,
  maxBatch: config.MAX_BATCH_READINGS,
})
