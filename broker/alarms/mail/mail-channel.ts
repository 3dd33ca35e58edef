// The e-mail channel: a mail request (an alarm raised, an escalation, an incident) → recipients from
// the rules file → a composed mail in the durable queue → SMTP, oldest first, retried with jittered
// backoff while the server is unreachable. Enqueuing only starts a file write: no caller waits for
// the mail server, and mails queued while it is down (or the gateway is stopped) go out later.
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../../log.ts'
import { backoffDelayMs } from '../../backoff.ts'
import type { AlarmEvent } from '../alarm.ts'
import { composeMail, type MailLinks, type MailRequest } from './mail-message.ts'
import { openMailQueue, type QueuedMail } from './mail-queue.ts'
import { mailRecipients, type MailRules } from './mail-rules.ts'
import { createSmtpSender, type SmtpSender } from './smtp-sender.ts'
import type { FieldCipher } from '../../crypto/field-cipher.ts'

export type { MailRequest, MailIncident } from './mail-message.ts'

export interface MailChannelOptions extends MailLinks {
  dataDir: string
  smtpUrl: string
  from: string
  timeoutMs: number
  /** Backoff between attempts while sending fails: from retryBaseMs, doubling, at most retryMaxMs. */
  retryBaseMs: number
  retryMaxMs: number
  /** Mails waiting at most; beyond it the oldest is dropped (logged). */
  maxQueued: number
  /** The rules file's `mail` key as in force now (it is re-read when the file changes). */
  rules: () => MailRules | undefined
  log: Logger
  /** Seals queued mails' text on disk (DATA_DIR/mail-queue). */
  cipher?: FieldCipher | undefined
  onSent?: () => void
  /** `transient`: will be retried; `refused`: the server refused it for good; `queue_full`: dropped for room. */
  onFailed?: (reason: 'transient' | 'refused' | 'queue_full') => void
}

export interface MailChannel {
  /**
   * Queues one mail to the rules file's recipients for the district and severity (or `request.to`
   * instead), plus `request.extra`; none when that makes no one. Resolves once it is on disk
   * (callers need not wait).
   */
  enqueueMail(request: MailRequest): Promise<void>
  /** Alarm-change listener: a raise, or a severity rising in place, is mailed. Call it for this node's own changes only. */
  onAlarmChange(event: AlarmEvent): void
  /** Mails waiting to be sent. */
  depth(): number
  /** Stops sending (the queue stays on disk); waits for queued writes and a send in flight. */
  close(): Promise<void>
}

/** Longest wait at close for a send in flight, ms. */
const CLOSE_WAIT_MS = 2000

export async function startMailChannel (options: MailChannelOptions): Promise<MailChannel> {
  const log = options.log.child({ module: 'mail' })
  const queue = await openMailQueue({
    dir: path.join(options.dataDir, 'mail-queue'),
    maxQueued: options.maxQueued,
    log,
    cipher: options.cipher,
    onDropped () { options.onFailed?.('queue_full') },
  })
  const sender: SmtpSender = createSmtpSender({ url: options.smtpUrl, from: options.from, timeoutMs: options.timeoutMs })
  const stopping = new AbortController()
  let running: Promise<void> | undefined

  /** Sends the oldest mail until none is left; on failure waits and tries the same mail again. */
  async function drain (): Promise<void> {
    let failures = 0
    for (let entry = queue.oldest(); entry !== undefined && !stopping.signal.aborted; entry = queue.oldest()) {
      queue.setBusy(entry)
      const mail = await queue.read(entry)
      const outcome = mail === undefined ? undefined : await sender.send(mail)
      queue.setBusy(undefined)
      const detail = { ...entry.ref, recipients: entry.recipients }
      if (outcome === undefined || outcome.ok || outcome.permanent) {
        if (outcome?.ok === true) {
          options.onSent?.()
          log.info({ ...detail, rejected: outcome.rejected, attempts: failures + 1 }, outcome.rejected > 0 ? 'mail sent; some recipients refused' : 'mail sent')
        } else if (outcome !== undefined && !outcome.ok) {
          options.onFailed?.('refused')
          log.error({ ...detail, err: outcome.error }, 'mail refused by the mail server; dropped')
        }
        await queue.remove(entry)
        failures = 0
        continue
      }
      options.onFailed?.('transient')
      // Once per run of failures: a server down for an hour must not write a line per attempt.
      if (failures === 0) log.warn({ ...detail, err: outcome.error, queued: queue.depth() }, 'mail not sent, retrying')
      const delayMs = backoffDelayMs(failures++, options.retryBaseMs, options.retryMaxMs)
      await sleep(delayMs, undefined, { signal: stopping.signal }).catch(function stopped () { /* closing */ })
    }
    running = undefined
  }

  function wake (): void {
    if (stopping.signal.aborted || queue.depth() === 0) return
    running ??= drain().catch(function drainFailed (err: unknown) {
      running = undefined
      log.error({ err }, 'mail sending stopped by an error')
    })
  }

  async function enqueueMail (request: MailRequest): Promise<void> {
    const district = request.kind === 'incident' ? request.incident.district : request.alarm.district
    const severity = request.kind === 'incident' ? request.incident.severity : request.alarm.severity
    const to = [...new Set([...(request.to ?? mailRecipients(options.rules(), district, severity)), ...(request.extra ?? [])])]
    if (to.length === 0) return
    const ref: QueuedMail['ref'] = request.kind === 'incident'
      ? { incidentId: request.incident.id, district }
      : { alarmId: request.alarm.id, deviceId: request.alarm.deviceId, district }
    const composed = composeMail(request, options)
    if (!await queue.add({ version: 1, kind: request.kind, ref, to, ...composed, queuedAt: new Date().toISOString() })) return
    log.info({ ...ref, reason: request.kind, recipients: to.length }, 'mail queued')
    wake()
  }

  wake()
  return {
    enqueueMail,
    onAlarmChange (event) {
      if (event.change !== 'raised' && event.change !== 'escalated') return
      enqueueMail({ kind: 'raised', alarm: event.alarm }).catch(function notQueued (err: unknown) {
        log.error({ err, deviceId: event.alarm.deviceId, alarmId: event.alarm.id }, 'mail not queued')
      })
    },
    depth () { return queue.depth() },
    async close () {
      await queue.flush()
      stopping.abort()
      // A send in flight may wait on a silent server for SMTP_TIMEOUT_MS; its mail stays queued on
      // disk until the server accepted it, so shutdown need not wait for it long.
      await Promise.race([running, sleep(CLOSE_WAIT_MS, undefined, { ref: false })])
      sender.close()
    },
  }
}
