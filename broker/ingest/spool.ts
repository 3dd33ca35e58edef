// Enters: valid readings as InfluxDB line-protocol lines, one record per MQTT message.
// Leaves: batches of whole records, in append order, to the InfluxDB writer until it commits them.
// Guarantees: append resolves only after fdatasync (PUBACK ⇒ on disk); survives SIGKILL/restarts; bounded RAM.
import { mkdir, open, readdir, readFile, rename, rm, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { setImmediate as nextIoTurn, setTimeout as sleep } from 'node:timers/promises'
import { crc32 } from 'node:zlib'
import type { Logger } from 'pino'
import { GatewayError } from '../errors.ts'

export interface SpoolOptions {
  /** Directory of the segment and cursor files (e.g. `DATA_DIR/spool`); created if missing. */
  dir: string
  /** Quota in bytes of undelivered records on disk; an append beyond it rejects with CSG_SPOOL_FULL. Default 1 GiB. */
  maxBytes: number
  /** A segment file is rolled once the next group would take it past this size. Default 64 MiB. */
  segmentBytes: number
  /** Extra batching window in ms before a group is written and fsynced. Default 0: natural group commit. */
  groupCommitMs: number
  log: Logger
}

export const SPOOL_DEFAULTS: Readonly<Omit<SpoolOptions, 'dir' | 'log'>> = Object.freeze({
  maxBytes: 1024 ** 3,
  segmentBytes: 64 * 1024 ** 2,
  groupCommitMs: 0,
})

/** What `openSpool` takes: `dir` and `log`, the rest defaults to SPOOL_DEFAULTS. */
export type SpoolInit = Pick<SpoolOptions, 'dir' | 'log'> & Partial<Omit<SpoolOptions, 'dir' | 'log'>>

/** A batch handed to the writer. Its end position is kept out of reach (opaque) and used by `commit`. */
export interface SpoolBatch {
  readonly lines: string[]
  readonly records: number
  /** Bytes on disk of these records, headers included. */
  readonly bytes: number
}

export interface SpoolStats {
  /** Undelivered (uncommitted) bytes on disk: what the quota counts, fsynced appends only. */
  depthBytes: number
  depthRecords: number
  /** Age of the oldest undelivered record, from its append time; null when the spool is empty. */
  oldestRecordAgeMs: number | null
  segments: number
  /** Records appended (and fsynced) since open. */
  appendedRecords: number
  /** fdatasync calls made for appends since open (group commits). */
  fsyncs: number
}

export interface Spool {
  /** Appends one record (the lines of one MQTT message). Resolves only after the record is fsynced (fdatasync) to disk. */
  append(lines: readonly string[]): Promise<void>
  /** Next batch of up to maxLines lines (whole records; at least one record even if larger) after the read position; waits until data is there or the signal aborts (then resolves null; also null once closed). Does not remove anything. */
  read(maxLines: number, signal?: AbortSignal): Promise<SpoolBatch | null>
  /** Marks everything up to the end of this batch as delivered: persists the cursor durably and deletes fully delivered segments. Batches are committed in the order read. */
  commit(batch: SpoolBatch): Promise<void>
  /** Rewinds the read position to the last committed cursor (used after a failed write). */
  rewind(): void
  stats(): SpoolStats
  /** Flushes pending appends (they resolve), fsyncs and closes files. Later appends reject with CSG_SPOOL_CLOSED. */
  close(): Promise<void>
}

// Record layout (little-endian): magic/version u8 | payload length u32 | CRC-32 of payload u32 |
// append time ms u64 | payload = lines joined by '\n', UTF-8.
const RECORD_MAGIC = 0xa1 // format version 1; any other byte at a record start is a torn or foreign tail
const HEADER_BYTES = 17
const READ_CHUNK_BYTES = 1024 ** 2 // one read buffer per spool: RAM stays flat however deep the spool is
// A burst of appends is copied into one buffer per write; cap it so a flood cannot build one huge buffer.
const MAX_GROUP_BYTES = 16 * 1024 ** 2
const CURSOR_FILE = 'cursor.json'
const CURSOR_TMP = 'cursor.json.tmp'
const SEGMENT_NAME = /^(\d{20})\.seg$/

interface Position { readonly seq: number, readonly offset: number }
/** `size` counts only fsynced bytes: readers never see a record that an append has not acknowledged. */
interface Segment { readonly seq: number, size: number }
interface PendingAppend { readonly record: Buffer, readonly appendedAtMs: number, resolve: () => void, reject: (err: unknown) => void }
interface BatchMark { readonly owner: FileSpool, readonly startOrdinal: number, readonly end: Position, readonly endOrdinal: number }

// Keeps SpoolBatch opaque: the writer cannot forge or edit where a batch ends.
const batchMarks = new WeakMap<SpoolBatch, BatchMark>()

export async function openSpool (options: SpoolInit): Promise<Spool> {
  const opts = resolveOptions(options)
  const log = options.log.child({ module: 'spool' })
  const recovered = await recover(opts.dir, log)
  const last = recovered.segments.at(-1) as Segment
  const writer = await open(segmentPath(opts.dir, last.seq), 'r+')
  const spool = new FileSpool(opts, log, recovered, writer)
  log.info(spool.stats(), 'spool opened')
  return spool
}

function resolveOptions (options: SpoolInit): Readonly<Omit<SpoolOptions, 'log'>> {
  const o = {
    dir: options.dir,
    maxBytes: options.maxBytes ?? SPOOL_DEFAULTS.maxBytes,
    segmentBytes: options.segmentBytes ?? SPOOL_DEFAULTS.segmentBytes,
    groupCommitMs: options.groupCommitMs ?? SPOOL_DEFAULTS.groupCommitMs,
  }
  const bad = o.dir === '' ? 'dir'
    : !(Number.isSafeInteger(o.maxBytes) && o.maxBytes > 0) ? 'maxBytes'
      : !(Number.isSafeInteger(o.segmentBytes) && o.segmentBytes > 0) ? 'segmentBytes'
        : !(Number.isFinite(o.groupCommitMs) && o.groupCommitMs >= 0) ? 'groupCommitMs'
          : null
  if (bad !== null) throw new GatewayError('CSG_CONFIG_INVALID', `spool option ${bad} is invalid`)
  return Object.freeze(o)
}

class FileSpool implements Spool {
  private readonly queue: PendingAppend[] = []
  private pendingBytes = 0 // queued or being written: counted against the quota before it lands
  private flushing: Promise<void> | null = null
  private failure: GatewayError | null = null
  private isRefusing = false // logs the transition into "full", not every refused append
  private closed = false
  private closing: Promise<void> | null = null

  private readPos: Position
  private readOrdinal: number
  private committed: Position
  private committedOrdinal = 0
  // Record ordinals count from the cursor at open; they number batches so commits can be checked for order.
  private durableOrdinal: number
  private epoch = 0 // bumped by rewind/commit to restart a read in flight from the new position
  private oldestAppendedAtMs: number | null
  private appendedRecords = 0
  private fsyncs = 0

  private readChain: Promise<unknown> = Promise.resolve()
  private commitChain: Promise<unknown> = Promise.resolve()
  private readonly waiters = new Set<() => void>()
  private reader: { seq: number, handle: FileHandle } | null = null
  private isWalking = false // a read is between awaits on `reader`: its handle must stay open
  private readonly segments: Segment[]
  private readonly readBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)

  constructor (
    private readonly opts: Readonly<Omit<SpoolOptions, 'log'>>,
    private readonly log: Logger,
    recovered: Recovered,
    private writer: FileHandle,
  ) {
    this.segments = recovered.segments
    this.committed = recovered.committed
    this.readPos = recovered.committed
    this.readOrdinal = 0
    this.durableOrdinal = recovered.records
    this.oldestAppendedAtMs = recovered.oldestAppendedAtMs
  }

  append (lines: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new GatewayError('CSG_SPOOL_CLOSED'))
    if (this.failure !== null) return Promise.reject(this.failure)
    if (lines.length === 0) return Promise.reject(new TypeError('spool: a record needs at least one line'))
    const appendedAtMs = Date.now()
    const record = encodeRecord(lines, appendedAtMs)
    // Refuse before anything is written, so a refused message leaves no trace and gets no PUBACK.
    if (this.undeliveredBytes() + this.pendingBytes + record.length > this.opts.maxBytes) {
      if (!this.isRefusing) this.log.warn({ maxBytes: this.opts.maxBytes }, 'spool full: refusing appends until the writer catches up')
      this.isRefusing = true
      return Promise.reject(new GatewayError('CSG_SPOOL_FULL'))
    }
    if (this.isRefusing) this.log.info('spool has room again')
    this.isRefusing = false
    this.pendingBytes += record.length
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, appendedAtMs, resolve, reject })
      if (this.flushing === null) this.flushing = this.flushLoop()
    })
  }

  // One write + one fdatasync per group. Appends made while a group is being synced wait in the queue
  // and form the next group, so the fsync rate stays near 1/fsync-latency however many appends arrive.
  private async flushLoop (): Promise<void> {
    try {
      // Let appends arriving in the same I/O turn (e.g. one socket read holding many PUBLISHes) join the first group.
      if (this.opts.groupCommitMs > 0) await sleep(this.opts.groupCommitMs)
      else await nextIoTurn()
      while (this.queue.length > 0) {
        await this.writeGroup(this.takeGroup())
        if (this.opts.groupCommitMs > 0 && this.queue.length > 0) await sleep(this.opts.groupCommitMs)
      }
    } catch (err) {
      // writeGroup settles its own group; reaching here is a bug. Never leave appends hanging.
      this.failure ??= new GatewayError('CSG_SPOOL_CLOSED', 'the spool failed and refuses appends', { cause: err })
      this.log.error({ err }, 'spool flush loop failed; refusing appends')
      for (const item of this.queue.splice(0)) item.reject(this.failure)
    } finally {
      // Runs in the same turn as the last empty-queue check: no append can slip in between and be stranded.
      this.flushing = null
    }
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
    const bytes = group.reduce((sum, item) => sum + item.record.length, 0)
    let segment = this.segments.at(-1) as Segment
    try {
      if (this.failure !== null) throw this.failure
      if (segment.size > 0 && segment.size + bytes > this.opts.segmentBytes) segment = await this.roll(segment)
      const data = group.length === 1 ? (group[0] as PendingAppend).record : Buffer.concat(group.map((item) => item.record), bytes)
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
    segment.size += bytes
    this.durableOrdinal += group.length
    this.appendedRecords += group.length
    this.oldestAppendedAtMs ??= (group[0] as PendingAppend).appendedAtMs
    for (const item of group) item.resolve()
    this.wakeReaders()
  }

  // A failed write or fdatasync may leave part of the group in the file; cut it back so later groups land
  // on a record boundary. If even that fails, the file can no longer be trusted: refuse further appends.
  private async undoPartialWrite (segment: Segment, cause: unknown): Promise<void> {
    if (this.failure !== null || this.segments.at(-1) !== segment) return
    try {
      await this.writer.truncate(segment.size)
      await this.writer.datasync()
      this.log.error({ err: cause, segment: segment.seq }, 'spool append failed; group refused')
    } catch (err) {
      this.failure = new GatewayError('CSG_SPOOL_CLOSED', 'the spool failed writing to disk and refuses appends', { cause: err })
      this.log.error({ err, cause, segment: segment.seq }, 'spool cannot repair a failed write; refusing appends')
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
    this.segments.push(next)
    await previous.close() // everything in it was fsynced by the group that wrote it
    return next
  }

  read (maxLines: number, signal?: AbortSignal): Promise<SpoolBatch | null> {
    if (!(Number.isSafeInteger(maxLines) && maxLines > 0)) return Promise.reject(new TypeError('spool: maxLines must be a positive integer'))
    if (this.closed) return Promise.resolve(null)
    // Reads are serialised: each continues where the previous one stopped.
    const result = this.readChain.then(() => this.readBatch(maxLines, signal))
    this.readChain = result.catch(() => undefined)
    return result
  }

  private async readBatch (maxLines: number, signal: AbortSignal | undefined): Promise<SpoolBatch | null> {
    for (;;) {
      if (this.closed || signal?.aborted === true) return null
      const start = this.normalize(this.readPos)
      if (start.offset >= this.segmentOf(start.seq).size) {
        await this.waitForData(signal)
        continue
      }
      const epoch = this.epoch
      const startOrdinal = this.readOrdinal
      const lines: string[] = []
      let records = 0
      let bytes = 0
      let pos = start
      let isStopped = false
      this.isWalking = true
      try {
        while (!isStopped) {
          pos = this.normalize(pos)
          const segment = this.segmentOf(pos.seq)
          const limit = segment.size
          if (pos.offset >= limit) break
          const handle = await this.readerFor(segment.seq)
          const walk = await walkRecords(handle, this.readBuffer, pos.offset, limit, (_appendedAtMs, payload) => {
            const recordLines = payload.toString('utf8').split('\n')
            if (records > 0 && lines.length + recordLines.length > maxLines) return STOP
            for (const line of recordLines) lines.push(line)
            records++
            bytes += HEADER_BYTES + payload.length
            return lines.length >= maxLines ? TAKE_AND_STOP : TAKE
          })
          isStopped = walk.isStopped
          if (walk.fault === null) {
            pos = { seq: segment.seq, offset: walk.end }
          } else {
            // Records written by this process were checked on open or written since: this is damage on disk.
            // Lengths past it cannot be trusted, so skip the rest of this segment; the next commit frees it.
            this.log.error({ code: 'CSG_SPOOL_CORRUPT', segment: segment.seq, offset: walk.end, skippedBytes: limit - walk.end, reason: walk.fault }, 'spool record corrupt; skipping the rest of the segment')
            pos = { seq: segment.seq, offset: limit }
          }
        }
      } finally {
        this.isWalking = false
      }
      if (this.closed && records === 0) return null
      if (epoch !== this.epoch) continue // rewound or committed past us meanwhile: start again from there
      this.readPos = pos
      if (records === 0) continue // only skipped corrupt bytes
      const end = this.normalize(pos)
      const last = this.segments.at(-1) as Segment
      // At the durable end the ordinal is known exactly; this also re-syncs ordinals after a skipped corrupt range.
      const endOrdinal = end.seq === last.seq && end.offset === last.size ? this.durableOrdinal : startOrdinal + records
      this.readOrdinal = endOrdinal
      const batch: SpoolBatch = { lines, records, bytes }
      batchMarks.set(batch, { owner: this, startOrdinal, end: pos, endOrdinal })
      return batch
    }
  }

  private waitForData (signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.waiters.delete(wake)
        signal?.removeEventListener('abort', wake)
        resolve()
      }
      this.waiters.add(wake)
      signal?.addEventListener('abort', wake, { once: true })
    })
  }

  private wakeReaders (): void {
    for (const wake of [...this.waiters]) wake()
  }

  private async readerFor (seq: number): Promise<FileHandle> {
    if (this.reader?.seq === seq) return this.reader.handle
    const previous = this.reader
    this.reader = null
    if (previous !== null) await previous.handle.close()
    const handle = await open(segmentPath(this.opts.dir, seq), 'r')
    this.reader = { seq, handle }
    return handle
  }

  commit (batch: SpoolBatch): Promise<void> {
    const mark = batchMarks.get(batch)
    if (mark?.owner !== this) return Promise.reject(new TypeError('spool: not a batch read from this spool'))
    // Commits asked for before close() still run (close waits for them); later ones are refused.
    if (this.closed) return Promise.reject(new GatewayError('CSG_SPOOL_CLOSED'))
    // Serialised: cursor files must be written in order.
    const result = this.commitChain.then(() => this.commitMark(mark))
    this.commitChain = result.catch(() => undefined)
    return result
  }

  private async commitMark (mark: BatchMark): Promise<void> {
    if (mark.endOrdinal <= this.committedOrdinal) return // already committed (e.g. re-read after a rewind)
    if (mark.startOrdinal !== this.committedOrdinal) throw new Error('spool: batches must be committed in the order they were read')
    const end = this.normalize(mark.end)
    await writeCursor(this.opts.dir, end)
    this.committed = end
    this.committedOrdinal = mark.endOrdinal
    if (this.readOrdinal < this.committedOrdinal) {
      this.readPos = end
      this.readOrdinal = this.committedOrdinal
      this.epoch++
      this.wakeReaders()
    }
    await this.dropDelivered()
    await this.refreshOldest()
  }

  // Deleted only after the cursor past them is durable: a crash in between leaves files that open() deletes.
  private async dropDelivered (): Promise<void> {
    for (;;) {
      const first = this.segments[0] as Segment
      if (this.segments.length === 1) return
      const isDelivered = first.seq < this.committed.seq || (first.seq === this.committed.seq && this.committed.offset >= first.size)
      if (!isDelivered) return
      this.segments.shift()
      if (first.seq === this.committed.seq) this.committed = { seq: (this.segments[0] as Segment).seq, offset: 0 }
      // Release the deleted file's disk space now unless a read is using the handle (it lets go when it moves on).
      if (this.reader?.seq === first.seq && !this.isWalking) {
        const { handle } = this.reader
        this.reader = null
        await handle.close()
      }
      await unlink(segmentPath(this.opts.dir, first.seq)).catch((err: unknown) => {
        this.log.warn({ err, segment: first.seq }, 'could not delete a delivered spool segment')
      })
    }
  }

  private async refreshOldest (): Promise<void> {
    if (this.durableOrdinal === this.committedOrdinal) {
      this.oldestAppendedAtMs = null
      return
    }
    const at = this.normalize(this.committed)
    if (at.offset >= this.segmentOf(at.seq).size) return
    const header = Buffer.allocUnsafe(HEADER_BYTES)
    try {
      const handle = await open(segmentPath(this.opts.dir, at.seq), 'r')
      try {
        if (await readFully(handle, header, HEADER_BYTES, at.offset) === HEADER_BYTES && header[0] === RECORD_MAGIC) {
          this.oldestAppendedAtMs = readAppendedAt(header, 0)
        }
      } finally {
        await handle.close()
      }
    } catch (err) {
      this.log.warn({ err }, 'could not read the oldest spool record time')
    }
  }

  rewind (): void {
    this.readPos = this.committed
    this.readOrdinal = this.committedOrdinal
    this.epoch++
    this.wakeReaders() // a read waiting at the old position has data again
  }

  stats (): SpoolStats {
    return {
      depthBytes: this.undeliveredBytes(),
      depthRecords: this.durableOrdinal - this.committedOrdinal,
      oldestRecordAgeMs: this.oldestAppendedAtMs === null ? null : Math.max(0, Date.now() - this.oldestAppendedAtMs),
      segments: this.segments.length,
      appendedRecords: this.appendedRecords,
      fsyncs: this.fsyncs,
    }
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    this.closed = true
    while (this.flushing !== null) await this.flushing
    this.wakeReaders()
    await this.readChain
    await this.commitChain
    try {
      if (this.reader !== null) await this.reader.handle.close()
      this.reader = null
      if (this.failure === null) await this.writer.datasync()
    } finally {
      await this.writer.close()
    }
    this.log.info(this.stats(), 'spool closed')
  }

  private undeliveredBytes (): number {
    let bytes = 0
    for (const segment of this.segments) {
      if (segment.seq > this.committed.seq) bytes += segment.size
      else if (segment.seq === this.committed.seq) bytes += Math.max(0, segment.size - this.committed.offset)
    }
    return bytes
  }

  /** Moves a position at the end of a sealed segment (or in a deleted one) to the start of the next. */
  private normalize (pos: Position): Position {
    const segments = this.segments
    let i = segments.findIndex((s) => s.seq >= pos.seq)
    if (i === -1) i = segments.length - 1
    let segment = segments[i] as Segment
    let offset = segment.seq === pos.seq ? pos.offset : 0
    while (offset >= segment.size && i < segments.length - 1) {
      i++
      segment = segments[i] as Segment
      offset = 0
    }
    return offset === pos.offset && segment.seq === pos.seq ? pos : { seq: segment.seq, offset }
  }

  private segmentOf (seq: number): Segment {
    const segment = this.segments.find((s) => s.seq === seq)
    if (segment === undefined) throw new Error(`spool: segment ${seq} is not open`)
    return segment
  }
}

// ---- Recovery -------------------------------------------------------------------------------------------

interface Recovered { segments: Segment[], committed: Position, records: number, oldestAppendedAtMs: number | null }

// Scans every undelivered record (CRC and length) from the cursor on, cuts each segment at its first
// torn or corrupt record (a write cut by SIGKILL or power loss) and deletes segments with nothing left
// to deliver. Streams through a 1 MiB buffer, so a spool of gigabytes opens in constant memory.
async function recover (dir: string, log: Logger): Promise<Recovered> {
  await mkdir(dir, { recursive: true })
  await rm(join(dir, CURSOR_TMP), { force: true })
  const cursor = await readCursor(dir, log)
  const seqs = (await readdir(dir))
    .map((name) => SEGMENT_NAME.exec(name)?.[1])
    .filter((digits): digits is string => digits !== undefined)
    .map(Number)
    .sort((a, b) => a - b)
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)
  const kept: Array<Segment & { start: number }> = []
  let records = 0
  let oldestAppendedAtMs: number | null = null
  for (const seq of seqs) {
    const path = segmentPath(dir, seq)
    if (seq < cursor.seq) {
      await unlink(path) // delivered; the deletion after the commit was interrupted
      continue
    }
    const handle = await open(path, 'r+')
    try {
      const { size } = await handle.stat()
      let start = seq === cursor.seq ? cursor.offset : 0
      if (start > size) {
        log.warn({ segment: seq, cursor: start, size }, 'spool cursor is past the segment end; treating the segment as delivered')
        start = size
      }
      const walk = await walkRecords(handle, buffer, start, size, (appendedAtMs) => {
        oldestAppendedAtMs ??= appendedAtMs
        records++
        return TAKE
      })
      if (walk.end < size) {
        await handle.truncate(walk.end)
        log.warn({ code: 'CSG_SPOOL_CORRUPT', segment: seq, offset: walk.end, cutBytes: size - walk.end, reason: walk.fault }, 'spool tail cut at a torn or corrupt record')
      }
      // The last segment may hold writes that were never fsynced (killed before the group's fdatasync).
      await handle.datasync()
      kept.push({ seq, size: walk.end, start })
    } finally {
      await handle.close()
    }
  }
  const live = []
  for (const segment of kept) {
    if (segment.size > segment.start) live.push(segment)
    else await unlink(segmentPath(dir, segment.seq))
  }
  const first = live[0]
  if (first === undefined) {
    const seq = Math.max(cursor.seq, seqs.at(-1) ?? 0) + 1
    const handle = await open(segmentPath(dir, seq), 'w')
    await handle.close()
    await fsyncDir(dir)
    return { segments: [{ seq, size: 0 }], committed: { seq, offset: 0 }, records, oldestAppendedAtMs }
  }
  return {
    segments: live.map(({ seq, size }) => ({ seq, size })),
    committed: { seq: first.seq, offset: first.start },
    records,
    oldestAppendedAtMs,
  }
}

// A damaged cursor only costs re-delivery from the first segment (at-least-once), never a lost record.
async function readCursor (dir: string, log: Logger): Promise<Position> {
  let text: string
  try {
    text = await readFile(join(dir, CURSOR_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { seq: 0, offset: 0 }
    throw err
  }
  try {
    const parsed = JSON.parse(text) as { segment?: unknown, offset?: unknown }
    if (Number.isSafeInteger(parsed.segment) && Number.isSafeInteger(parsed.offset) && (parsed.segment as number) >= 0 && (parsed.offset as number) >= 0) {
      return { seq: parsed.segment as number, offset: parsed.offset as number }
    }
  } catch {
    // fall through to the warning below
  }
  log.warn({ file: CURSOR_FILE }, 'spool cursor unreadable; re-delivering from the first segment')
  return { seq: 0, offset: 0 }
}

// Atomic replace: write a temp file, fsync it, rename over the cursor, fsync the directory (rename durability).
async function writeCursor (dir: string, pos: Position): Promise<void> {
  const tmp = join(dir, CURSOR_TMP)
  const handle = await open(tmp, 'w')
  try {
    await handle.writeFile(`${JSON.stringify({ version: 1, segment: pos.seq, offset: pos.offset })}\n`)
    await handle.datasync()
  } finally {
    await handle.close()
  }
  await rename(tmp, join(dir, CURSOR_FILE))
  await fsyncDir(dir)
}

// ---- Record format and file helpers ---------------------------------------------------------------------

function encodeRecord (lines: readonly string[], appendedAtMs: number): Buffer {
  const text = lines.join('\n')
  const length = Buffer.byteLength(text, 'utf8')
  const record = Buffer.allocUnsafe(HEADER_BYTES + length)
  record[0] = RECORD_MAGIC
  record.writeUInt32LE(length, 1)
  record.write(text, HEADER_BYTES, 'utf8')
  record.writeUInt32LE(crc32(record.subarray(HEADER_BYTES)), 5)
  record.writeUInt32LE(appendedAtMs % 2 ** 32, 9)
  record.writeUInt32LE(Math.floor(appendedAtMs / 2 ** 32), 13)
  return record
}

function readAppendedAt (buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at + 9) + buffer.readUInt32LE(at + 13) * 2 ** 32
}

const TAKE = 0
const TAKE_AND_STOP = 1
const STOP = 2
type Verdict = typeof TAKE | typeof TAKE_AND_STOP | typeof STOP
type RecordVisitor = (appendedAtMs: number, payload: Buffer) => Verdict
interface Walk { end: number, fault: string | null, isStopped: boolean }

/** Visits whole, valid records in [from, limit); `end` is where it stopped, `fault` why if a record was bad. */
async function walkRecords (handle: FileHandle, chunk: Buffer, from: number, limit: number, visit: RecordVisitor): Promise<Walk> {
  let offset = from
  while (offset < limit) {
    const n = await readFully(handle, chunk, Math.min(chunk.length, limit - offset), offset)
    let p = 0
    while (p + HEADER_BYTES <= n) {
      const at = offset + p
      if (chunk[p] !== RECORD_MAGIC) return { end: at, fault: 'bad record header', isStopped: false }
      const length = chunk.readUInt32LE(p + 1)
      const total = HEADER_BYTES + length
      if (at + total > limit) return { end: at, fault: 'record cut short', isStopped: false }
      let payload: Buffer
      if (p + total <= n) {
        payload = chunk.subarray(p + HEADER_BYTES, p + total)
      } else if (p === 0) {
        payload = Buffer.allocUnsafe(length) // a record larger than the chunk: read it alone
        if (await readFully(handle, payload, length, at + HEADER_BYTES) < length) return { end: at, fault: 'record cut short', isStopped: false }
      } else {
        break // continue from this record with a fresh chunk
      }
      if (crc32(payload) !== chunk.readUInt32LE(p + 5)) return { end: at, fault: 'checksum mismatch', isStopped: false }
      const verdict = visit(readAppendedAt(chunk, p), payload)
      if (verdict === STOP) return { end: at, fault: null, isStopped: true }
      p += total
      if (verdict === TAKE_AND_STOP) return { end: offset + p, fault: null, isStopped: true }
    }
    if (p === 0) return { end: offset, fault: 'record cut short', isStopped: false } // fewer bytes left than a header
    offset += p
  }
  return { end: offset, fault: null, isStopped: false }
}

async function readFully (handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<number> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

async function writeFully (handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done)
    if (bytesWritten === 0) throw new Error('spool: write made no progress')
    done += bytesWritten
  }
}

async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

function segmentPath (dir: string, seq: number): string {
  return join(dir, `${String(seq).padStart(20, '0')}.seg`)
}

function isDiskFull (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}
