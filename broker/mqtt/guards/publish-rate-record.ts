// A device refused for publishing too far above its rate → one durable `rejected` point (reason
// `rate_limited`, the refused payload) and one notice on devices/{id}/errors; called at most once
// per device per log period by hooks.ts, so a flood cannot turn into spool writes. Resolves once
// the point is on disk.
import { encodeRejected } from '../../influx/line-protocol.ts'
import type { Notice } from '../../ingest/notices.ts'
import type { Spool } from '../../spool/spool.ts'
import type { DeviceIdentity } from '../authenticate.ts'

export interface RateLimitRecordOptions {
  spool: Pick<Spool, 'append'>
  publishNotice(device: DeviceIdentity, notice: Notice): void
  ratePerSec: number
  burst: number
  maxDelaySec: number
  logIntervalSec: number
  now?: () => number
}

export function createRateLimitRecorder (options: RateLimitRecordOptions) {
  const now = options.now ?? Date.now
  return async function recordRateLimited (device: DeviceIdentity, payload: Buffer, refusedSinceLast: number): Promise<void> {
    const receivedMs = now()
    const message = `more than ${options.ratePerSec} messages per second (burst ${options.burst}): messages above the rate are acknowledged later; ` +
      `this one was more than ${options.maxDelaySec} s ahead and was refused without acknowledgement (the connection was closed: send it again); ` +
      `this is reported at most once per ${options.logIntervalSec} s` + (refusedSinceLast > 0 ? ` (${refusedSinceLast} refused since the last report)` : '')
    const issues = [{ field: '', message }]
    await options.spool.append([encodeRejected({ deviceId: device.id, reason: 'rate_limited', payload, issues: JSON.stringify(issues), tsMs: receivedMs })])
    options.publishNotice(device, {
      status: 'rejected',
      reason: 'rate_limited',
      message,
      receivedAt: new Date(receivedMs).toISOString(),
      accepted: 0,
      rejected: 1,
      issues,
    })
  }
}
