// A telemetry message refused as a whole (unparseable, too large, rate-limited) → the `rejected`
// point that keeps its payload in InfluxDB and the notice that tells the device. Pure: the caller
// appends the line and publishes the notice once the append is on disk.
import { encodeRejected } from '../influx/line-protocol.ts'
import type { Notice, NoticeIssue } from './notices.ts'

export interface RejectedMessage {
  deviceId: string
  payload: Buffer
  /** Stable code: the `reason` tag of the point and of the notice. */
  reason: string
  /** What the device is told; the first message becomes the notice's `message`. */
  issues: readonly NoticeIssue[]
  /** Time of receipt, epoch ms (the notice's `receivedAt`). */
  receivedMs: number
  /** Time of the `rejected` point, epoch ms. */
  pointMs: number
}

/** The `rejected` line and the `rejected` notice of one message. */
export function rejectMessage (rejected: RejectedMessage): { line: string, notice: Notice } {
  const { reason, issues } = rejected
  const line = encodeRejected({ deviceId: rejected.deviceId, reason, payload: rejected.payload, issues: JSON.stringify(issues), tsMs: rejected.pointMs })
  const notice: Notice = {
    status: 'rejected',
    reason,
    message: issues[0]?.message ?? reason,
    receivedAt: new Date(rejected.receivedMs).toISOString(),
    accepted: 0,
    rejected: 1,
    issues,
  }
  return { line, notice }
}
