// A device refused for publishing too far above its rate → one durable `rejected` point (reason
// `rate_limited`, the refused payload) and one notice on devices/{id}/errors; called at most once
// per device per log period by hooks.ts, so a flood cannot turn into spool writes. Resolves once
// the point is on disk.
import type { Notice } from '../../ingest/notices.ts'
import { rejectMessage } from '../../ingest/reject.ts'
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
    const { line, notice } = rejectMessage({ deviceId: device.id, payload, reason: 'rate_limited', issues: [{ field: '', message }], receivedMs, pointMs: receivedMs })
    await options.spool.append([line])
    options.publishNotice(device, notice)
  }
}
