// What a device is told on devices/{id}/errors: one JSON object per message that had a problem.
// Unknown fields are reported at most once per field per device per hour, so a device sending an
// extra field with every reading is not told so with every message.

export interface NoticeIssue { field: string; message: string }

export interface ReadingNotice { readonly index: number; readonly reason: string; readonly issues: readonly NoticeIssue[] }

export interface Notice {
  /** `rejected`: nothing of the message was stored; `partial`: some readings were stored;
   *  `unknown_fields`: everything valid was stored, but fields were dropped. */
  status: 'rejected' | 'partial' | 'unknown_fields'
  /** The message-level reason when nothing could be read (e.g. `invalid_json`). */
  reason?: string
  message: string
  receivedAt: string
  accepted: number
  rejected: number
  readings?: readonly ReadingNotice[]
  issues?: readonly NoticeIssue[]
  unknownFields?: readonly string[]
}

/** Remembers, per device and field, when the device was last told about an unknown field (at most once per `intervalMs`). */
export function createUnknownFieldThrottle (intervalMs: number) {
  const lastNoticeMs = new Map<string, Map<string, number>>()
  return {
    /** The fields the device should hear about now; marks them as told. */
    take (deviceId: string, fields: readonly string[], nowMs: number): string[] {
      let told = lastNoticeMs.get(deviceId)
      if (told === undefined) {
        told = new Map()
        lastNoticeMs.set(deviceId, told)
      }
      const due: string[] = []
      for (const field of fields) {
        const last = told.get(field)
        if (last === undefined || nowMs - last >= intervalMs) {
          told.set(field, nowMs)
          due.push(field)
        }
      }
      return due
    },
    forget (deviceId: string): void { lastNoticeMs.delete(deviceId) },
  }
}

export function describeCounts (accepted: number, rejected: number): string {
  if (accepted === 0) return rejected === 1 ? 'the reading was rejected' : `all ${rejected} readings were rejected`
  return `${rejected} of ${accepted + rejected} readings rejected; the others were stored`
}
