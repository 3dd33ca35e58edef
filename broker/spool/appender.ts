// Enters: encoded records that passed the quota check, and the open handle of the last segment.
// Leaves: records written in groups, each group one write + one fdatasync, into the ledger's last segment.
// Guarantees: an append resolves only after its group's fdatasync; a failed group leaves no partial record.
import { open, type FileHandle } from 'node:fs/promises'
import { setImmediate as nextIoTurn, setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { GatewayError } from '../errors.ts'
import { fsyncDir, isDiskFull, segmentPath, writeFully } from './files.ts'
import type { Segment, SpoolLedger } from './ledger.ts'

// A burst of appends is copied into one buffer per write; cap it so a flood cannot build one huge buffer.
const MAX_GROUP_BYTES = 16 * 1024 ** 2
/**
 * Appends that share one fdatasync well enough: with this many waiting the group is written at once,
 * with fewer it waits up to groupCommitMs for more. Under heavy load groups are this large anyway
 * and never wait; devices sending one message at a time make small groups, and there each fsync
 * costs CPU (a few hundred µs on a virtual disk) for every handful of messages.
 */
const FULL_ENOUGH_GROUP = 32

export interface AppenderOptions {
  readonly dir: string
  readonly segmentBytes: number
  readonly groupCommitMs: number
  readonly ledger: SpoolLedger
  /** Open for writing on the ledger's last segment; the appender owns and closes it. */
  readonly writer: FileHandle
  readonly log: Logger
  /** Called once per fsynced group, after its appends resolved. */
  readonly onDurable: () => void
}

interface PendingAppend { readonly record: Buffer, readonly appendedAtMs: number, resolve: () => void, reject: (err: unknown) => void }

export class SpoolAppender {
  /** Bytes queued or being written: counted against the quota before they land. */
  pendingBytes = 0
  /** Set once the segment file can no longer be trusted; every later append should be refused with it. */
  failure: GatewayError | null = null
  /** Records appended (and fsynced) since open. */
  appendedRecords = 0
  /** fdatasync calls made for groups since open. */
  fsyncs = 0

  private readonly queue: PendingAppend[] = []
  private flushing: Promise<void> | null = null
  private writer: FileHandle

  constructor (private readonly opts: AppenderOptions) {
    this.writer = opts.writer
  }

  append (record: Buffer, appendedAtMs: number): Promise<void> {
    this.pendingBytes += record.length
    const enqueue = (resolve: () => void, reject: (err: unknown) => void): void => {
      this.queue.push({ record, appendedAtMs, resolve, reject })
      if (this.flushing === null) this.flushing = this.flushLoop()
    }
    return new Promise<void>(enqueue)
  }

  /** Resolves once every queued append has settled. */
  async drain (): Promise<void> {
    while (this.flushing !== null) await this.flushing
  }

  /** Call after drain(): fsyncs (unless the file failed) and closes the segment handle. */
  async close (): Promise<void> {
    try {
      if (this.failure === null) await this.writer.datasync()
    } finally {
      await this.writer.close()
    }
  }

  // One write + one fdatasync per group. Appends made while a group is being synced wait in the queue
  // and form the next group, so the fsync rate stays near 1/fsync-latency however many appends arrive;
  // a small group first waits up to groupCommitMs for company.
  private async flushLoop (): Promise<void> {
    try {
      // Let appends arriving in the same I/O turn (e.g. one socket read holding many PUBLISHes) join the first group.
      await nextIoTurn()
      await this.waitForCompany()
      while (this.queue.length > 0) {
        await this.writeGroup(this.takeGroup())
        await this.waitForCompany()
      }
    } catch (err) {
      // writeGroup settles its own group; reaching here is a bug. Never leave appends hanging.
      this.failure ??= new GatewayError('CSG_SPOOL_CLOSED', 'the spool failed and refuses appends', { cause: err })
      this.opts.log.error({ err }, 'spool flush loop failed; refusing appends')
      for (const item of this.queue.splice(0)) item.reject(this.failure)
    } finally {
      // Runs in the same turn as the last empty-queue check: no append can slip in between and be stranded.
      this.flushing = null
    }
  }

  /** A small group waits up to groupCommitMs for more appends to share its fsync. */
  private async waitForCompany (): Promise<void> {
    const { groupCommitMs } = this.opts
    if (groupCommitMs > 0 && this.queue.length > 0 && this.queue.length < FULL_ENOUGH_GROUP) await sleep(groupCommitMs)
  }

  private takeGroup (): PendingAppend[] {
    let bytes = 0
    let count = 0
    for (const item of this.queue) {
      if (count > 0 && bytes + item.record.length > MAX_GROUP_BYTES) break
      bytes += item.record.length
      count++
    }
    return this.queue.splice(0, count)
  }

  private async writeGroup (group: PendingAppend[]): Promise<void> {
    const { ledger } = this.opts
    let bytes = 0
    for (const item of group) bytes += item.record.length
    let segment = ledger.last
    try {
      if (this.failure !== null) throw this.failure
      if (segment.size > 0 && segment.size + bytes > this.opts.segmentBytes) segment = await this.roll(segment)
      const data = group.length === 1 ? (group[0] as PendingAppend).record : Buffer.concat(group.map(function recordOf (item) { return item.record }), bytes)
      await writeFully(this.writer, data, segment.size)
      await this.writer.datasync()
      this.fsyncs++
    } catch (err) {
      this.pendingBytes -= bytes
      await this.undoPartialWrite(segment, err)
      const refusal = isDiskFull(err) ? new GatewayError('CSG_SPOOL_FULL', 'the spool disk has no space left', { cause: err }) : err
      for (const item of group) item.reject(refusal)
      return
    }
    this.pendingBytes -= bytes
    ledger.addDurable(segment, bytes, group.length, (group[0] as PendingAppend).appendedAtMs)
    this.appendedRecords += group.length
    for (const item of group) item.resolve()
    this.opts.onDurable()
  }

  // A failed write or fdatasync may leave part of the group in the file; cut it back so later groups land
  // on a record boundary. If even that fails, the file can no longer be trusted: refuse further appends.
  private async undoPartialWrite (segment: Segment, cause: unknown): Promise<void> {
    if (this.failure !== null || this.opts.ledger.last !== segment) return
    try {
      await this.writer.truncate(segment.size)
      await this.writer.datasync()
      this.opts.log.error({ err: cause, segment: segment.seq }, 'spool append failed; group refused')
    } catch (err) {
      this.failure = new GatewayError('CSG_SPOOL_CLOSED', 'the spool failed writing to disk and refuses appends', { cause: err })
      this.opts.log.error({ err, cause, segment: segment.seq }, 'spool cannot repair a failed write; refusing appends')
    }
  }

  private async roll (current: Segment): Promise<Segment> {
    const next: Segment = { seq: current.seq + 1, size: 0 }
    const handle = await open(segmentPath(this.opts.dir, next.seq), 'w')
    try {
      // The new file's directory entry must be durable before acknowledged records live in it.
      await fsyncDir(this.opts.dir)
    } catch (err) {
      await handle.close()
      throw err
    }
    const previous = this.writer
    this.writer = handle
    this.opts.ledger.segments.push(next)
    await previous.close() // everything in it was fsynced by the group that wrote it
    return next
  }
}
