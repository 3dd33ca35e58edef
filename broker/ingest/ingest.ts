// One telemetry message of an authenticated device → validated readings durably in the spool
// (telemetry points plus a `rejected` point for what failed), a notice for the device, and the
// accepted readings for the alarm engine. Resolves only once the spool append is on disk, so the
// caller (authorizePublish) can let the PUBACK go out.
import type { DeviceIdentity } from '../mqtt/authenticate.ts'
import { createIncreasingClock } from '../increasing-clock.ts'
import type { LogThrottle } from '../log-throttle.ts'
import type { Logger } from '../log.ts'
import type { Metrics } from '../http/metrics.ts'
import { encodeRejected, encodeTelemetryLine, telemetrySeriesKey } from '../influx/line-protocol.ts'
import { rejectMessage } from './reject.ts'
import { createUnknownFieldThrottle, describeCounts, type Notice, type NoticeIssue } from './notices.ts'
import type { Spool } from '../spool/spool.ts'
import { validateTelemetry, type ValidReading } from './validate.ts'

export interface IngestOptions {
  spool: Spool
  metrics: Metrics
  log: Logger
  /** Payloads larger than this are rejected without being parsed. */
  maxMessageBytes: number
  maxBatchReadings: number
  backfillMs: number
  maxFutureMs: number
  /** A device is told about the same unknown field at most once per this period, ms. */
  unknownFieldNoticeIntervalMs: number
  /** Delivers a notice to the device (devices/{id}/errors). Must not throw. */
  publishNotice(device: DeviceIdentity, notice: Notice): void
  /** Called with the valid readings as soon as they are known, before the spool append (the alarm engine's entry). */
  onReadings?(device: DeviceIdentity, readings: readonly ValidReading[]): void
  /** Rejections are logged once per device and period (the device is told, and they are counted, every time). */
  throttle: LogThrottle
  now?: () => number
}

export interface Ingest {
  handleTelemetry(device: DeviceIdentity, payload: Buffer): Promise<void>
  forgetDevice(deviceId: string): void
}

export function createIngest (options: IngestOptions): Ingest {
  const { spool } = options
  const tally = options.metrics.telemetry
  const now = options.now ?? function systemClock () { return Date.now() }
  const unknownFieldThrottle = createUnknownFieldThrottle(options.unknownFieldNoticeIntervalMs)
  const logThrottle = options.throttle
  // Points that take the time of receipt, per device: two messages in the same millisecond (or a
  // batch without `ts`) never collapse into one InfluxDB point.
  const receiptClock = createIncreasingClock()
  // One options object, its clock set per message (an object spread per message showed in the
  // bench's allocation profile; validateTelemetry reads it synchronously).
  const validateOptions = {
    nowMs: 0,
    maxFutureMs: options.maxFutureMs,
    backfillMs: options.backfillMs,
    maxBatch: options.maxBatchReadings,
  }

  // Measurement and tags of a device's telemetry, escaped once per connection, not per reading.
  const seriesKeys = new WeakMap<DeviceIdentity, string>()
  function seriesKeyOf (device: DeviceIdentity): string {
    let key = seriesKeys.get(device)
    if (key === undefined) {
      key = telemetrySeriesKey(device.kind, { deviceId: device.id, district: device.district })
      seriesKeys.set(device, key)
    }
    return key
  }

  async function handleTelemetry (device: DeviceIdentity, payload: Buffer): Promise<void> {
    const receivedMs = now()

    if (payload.length > options.maxMessageBytes) {
      const message = `payload of ${payload.length} bytes exceeds the limit of ${options.maxMessageBytes} bytes`
      await refuseMessage(device, payload, receivedMs, 'too_large', [{ field: '', message }])
      return
    }

    validateOptions.nowMs = receivedMs
    const outcome = validateTelemetry(device.kind, payload, validateOptions)
    if (!outcome.ok) {
      await refuseMessage(device, payload, receivedMs, outcome.reason, outcome.issues)
      return
    }

    const lines: string[] = []
    const { readings } = outcome
    const seriesKey = seriesKeyOf(device)
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i] as ValidReading
      // Readings without their own ts are restamped in place (they are this stage's to change).
      if (!reading.tsGiven) reading.tsMs = receiptClock.next(device.id, reading.tsMs)
      lines.push(encodeTelemetryLine(seriesKey, device.kind, reading))
    }
    if (outcome.rejections.length > 0) {
      const issues = JSON.stringify(outcome.rejections)
      const reason = outcome.rejections[0]?.reason ?? 'invalid_reading'
      lines.push(encodeRejected({ deviceId: device.id, reason, payload, issues, tsMs: receiptClock.next(device.id, receivedMs) }))
    }
    // Alarms do not wait for the fsync: under load the queue in front of it is what crews would
    // wait for (measured by `npm run bench`). A device resending after a failed append repeats the
    // same ts, which the engine does not judge twice.
    if (readings.length > 0) options.onReadings?.(device, readings)
    // Only what the tail needs lives across the await: a message's parsed readings would otherwise
    // survive the young-generation GCs of its fsync wait and be copied by each (GC was the largest
    // item of the bench's profile).
    const accepted = readings.length
    const { rejections, unknownFields: unknownInMessage } = outcome
    await spool.append(lines)

    tally.readingsAccepted += accepted
    if (accepted > 0) tally.messagesAccepted++
    else tally.messagesRejected++
    if (rejections.length > 0) {
      tally.readingsRejected += rejections.length
      const suppressed = logThrottle.take(`readings_rejected:${device.id}`)
      if (suppressed !== undefined) device.log.info({ reason: rejections[0]?.reason, rejected: rejections.length, accepted, suppressedSinceLast: suppressed }, 'readings rejected')
    }

    const unknownFields = unknownInMessage.length === 0 ? unknownInMessage : unknownFieldThrottle.take(device.id, unknownInMessage, receivedMs)
    if (rejections.length > 0 || unknownFields.length > 0) {
      options.publishNotice(device, {
        status: rejections.length === 0 ? 'unknown_fields' : accepted === 0 ? 'rejected' : 'partial',
        message: rejections.length === 0
          ? `stored; unknown field(s) ignored: ${unknownFields.join(', ')}`
          : describeCounts(accepted, rejections.length),
        receivedAt: new Date(receivedMs).toISOString(),
        accepted,
        rejected: rejections.length,
        ...(rejections.length > 0 ? { readings: rejections } : {}),
        ...(unknownFields.length > 0 ? { unknownFields: [...unknownFields] } : {}),
      })
    }
  }

  async function refuseMessage (
    device: DeviceIdentity,
    payload: Buffer,
    receivedMs: number,
    reason: string,
    issues: readonly NoticeIssue[],
  ): Promise<void> {
    const { line, notice } = rejectMessage({ deviceId: device.id, payload, reason, issues, receivedMs, pointMs: receiptClock.next(device.id, receivedMs) })
    await spool.append([line])
    tally.messagesRejected++
    const suppressed = logThrottle.take(`message_rejected:${device.id}`)
    if (suppressed !== undefined) device.log.info({ reason, bytes: payload.length, suppressedSinceLast: suppressed }, 'message rejected')
    options.publishNotice(device, notice)
  }

  return {
    handleTelemetry,
    forgetDevice (deviceId) {
      unknownFieldThrottle.forget(deviceId)
      receiptClock.forget(deviceId)
    },
  }
}
