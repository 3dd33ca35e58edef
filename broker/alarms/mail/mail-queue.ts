// The durable mail queue: one file per mail in DATA_DIR/mail-queue, written and fsynced before it
// counts as queued, removed once sent. File names sort in queue order, so a restart resumes with the
// oldest. At most `maxQueued` mails wait: beyond it the oldest (not the one being sent) is dropped
// and logged. Memory holds only names and what the logs need; the mail itself is read when sent.
// The body (it names who acknowledged) is sealed with the data key on disk.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import type { Logger } from '../../log.ts'
import { replaceFile } from '../../replace-file.ts'
import type { FieldCipher } from '../../crypto/field-cipher.ts'

export const queuedMailSchema = z.object({
  version: z.literal(1),
  kind: z.enum(['raised', 'escalation', 'incident']),
  /** The alarm or incident it is about, for the logs. */
  ref: z.object({ alarmId: z.string().optional(), incidentId: z.string().optional(), deviceId: z.string().optional(), district: z.string() }),
  to: z.array(z.string()).min(1),
  subject: z.string(),
  text: z.string(),
  queuedAt: z.string(),
})
export type QueuedMail = z.infer<typeof queuedMailSchema>

export interface QueueEntry {
  readonly name: string
  readonly ref: QueuedMail['ref']
  readonly recipients: number
}

export interface MailQueueOptions {
  dir: string
  maxQueued: number
  log: Logger
  /** A mail was dropped because the queue was full. */
  onDropped?: (entry: QueueEntry) => void
  /** Seals each mail's text on disk; absent = clear. */
  cipher?: FieldCipher | undefined
}

export interface MailQueue {
  /** Resolves true once the mail is on disk (and queued); false when it could not be written (logged). */
  add(mail: QueuedMail): Promise<boolean>
  /** The oldest mail waiting, undefined when none; it is not dropped for room while `busy` is its name. */
  oldest(): QueueEntry | undefined
  /** The stored mail; undefined when its file is gone or unreadable (logged). */
  read(entry: QueueEntry): Promise<QueuedMail | undefined>
  remove(entry: QueueEntry): Promise<void>
  /** Marks the entry being sent (or none). */
  setBusy(entry: QueueEntry | undefined): void
  depth(): number
  /** Resolves once every add() so far has settled. */
  flush(): Promise<unknown>
}

const SUFFIX = '.mail.json'

export async function openMailQueue (options: MailQueueOptions): Promise<MailQueue> {
  const log = options.log.child({ module: 'mail-queue' })
  const { dir, maxQueued, cipher } = options
  await fs.mkdir(dir, { recursive: true, mode: 0o700 })
  const entries: QueueEntry[] = []
  let busy: string | undefined
  let counter = 0
  let writes: Promise<boolean> = Promise.resolve(true)

  async function read (entry: QueueEntry): Promise<QueuedMail | undefined> {
    try {
      const mail = queuedMailSchema.parse(JSON.parse(await fs.readFile(path.join(dir, entry.name), 'utf8')))
      return cipher === undefined ? mail : { ...mail, text: cipher.open('mail', mail.text) }
    } catch (err) {
      log.error({ err: { message: (err as Error).message }, file: entry.name }, 'queued mail unreadable; dropped')
      return undefined
    }
  }

  // What an earlier run left: temp files of unfinished writes go, the rest is queued again in order.
  for (const name of (await fs.readdir(dir)).sort()) {
    if (!name.endsWith(SUFFIX)) {
      if (name.endsWith('.tmp')) await fs.rm(path.join(dir, name), { force: true })
      continue
    }
    const probe: QueueEntry = { name, ref: { district: '' }, recipients: 0 }
    const mail = await read(probe)
    if (mail === undefined) {
      await fs.rm(path.join(dir, name), { force: true })
      continue
    }
    entries.push({ name, ref: mail.ref, recipients: mail.to.length })
  }
  if (entries.length > 0) log.info({ queued: entries.length }, 'queued mails found; sending them')

  function dropOldest (): void {
    const index = entries.findIndex(function notBusy (e) { return e.name !== busy })
    if (index < 0) return
    const [dropped] = entries.splice(index, 1)
    if (dropped === undefined) return
    log.warn({ ...dropped.ref, recipients: dropped.recipients, maxQueued }, 'mail queue full; dropped the oldest mail')
    options.onDropped?.(dropped)
    void fs.rm(path.join(dir, dropped.name), { force: true }).catch(function notRemoved (err: unknown) {
      log.error({ err, file: dropped.name }, 'dropped mail not removed')
    })
  }

  async function write (mail: QueuedMail): Promise<boolean> {
    const name = `${String(Date.now()).padStart(15, '0')}-${String(counter++).padStart(9, '0')}${SUFFIX}`
    try {
      await replaceFile(path.join(dir, name), JSON.stringify(cipher === undefined ? mail : { ...mail, text: cipher.seal('mail', mail.text) }))
    } catch (err) {
      log.error({ err, ...mail.ref, recipients: mail.to.length }, 'mail not queued: the queue file could not be written')
      return false
    }
    entries.push({ name, ref: mail.ref, recipients: mail.to.length })
    while (entries.length > maxQueued) dropOldest()
    return true
  }

  return {
    add (mail) {
      // One write after the other, so the queue order is the order of add().
      writes = writes.then(function writeNext () { return write(mail) })
      return writes
    },
    oldest () { return entries[0] },
    read,
    async remove (entry) {
      const index = entries.indexOf(entry)
      if (index >= 0) entries.splice(index, 1)
      await fs.rm(path.join(dir, entry.name), { force: true })
    },
    setBusy (entry) { busy = entry?.name },
    depth () { return entries.length },
    flush () { return writes },
  }
}
