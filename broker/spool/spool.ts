// Enters: valid readings as InfluxDB line-protocol lines, one record per MQTT message.
// Leaves: batches of whole records, in append order, to the InfluxDB writer (and to each follower, on
// its own cursor) until it commits them. Guarantees: append resolves only after fdatasync (PUBACK ⇒ on
// disk); a segment is deleted only once every cursor is past it; survives SIGKILL/restarts; bounded RAM.
import { open, unlink, type FileHandle } from 'node:fs/promises'
import type { Logger } from 'pino'
import { GatewayError } from '../errors.ts'
import { SpoolAppender } from './appender.ts'
import type { SpoolBatch } from './batch.ts'
import { readRecordTime, segmentPath } from './files.ts'
import { encodeRecord } from './format.ts'
import { SpoolLedger, type Position } from './ledger.ts'
import { batchMarkOf, SpoolReader, type BatchMark } from './reader.ts'
import { CURSOR_FILE, followerCursorFile, openCursorFile, type CursorFile } from './cursor.ts'
import { recover, type RecoveredCursor } from './recovery.ts'

export type { SpoolBatch } from './batch.ts'

export interface SpoolOptions {
  /** Directory of the segment and cursor files (e.g. `DATA_DIR/spool`); created if missing. */
  dir: string
  /** Quota in bytes of undelivered records on disk; an append beyond it rejects with CSG_SPOOL_FULL (SPOOL_MAX_BYTES). */
  maxBytes: number
  /** A segment file is rolled once the next group would take it past this size (SPOOL_SEGMENT_BYTES). */
  segmentBytes: number
  /** Extra batching window in ms before a group is written and fsynced; 0: natural group commit (SPOOL_GROUP_COMMIT_MS). */
  groupCommitMs: number
  /**
   * Further readers, each with its own durable cursor (`cursor.<name>.slots`), e.g. `ngsi-ld`.
   * A segment is kept until every cursor is past it, and the quota counts what any reader still needs.
   * A follower new to the directory starts at the oldest record kept.
   */
  followers?: readonly string[]
  log: Logger
}

/** The reading side of a spool as one reader sees it: its own read position and durable cursor. */
export interface SpoolFeed {
  read(maxLines: number, signal?: AbortSignal): Promise<SpoolBatch | null>
  commit(batch: SpoolBatch): Promise<void>
  rewind(): void
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

export interface Spool extends SpoolFeed {
  /** Appends one record (the lines of one MQTT message). Resolves only after the record is fsynced (fdatasync) to disk. */
  append(lines: readonly string[]): Promise<void>
  /** Next batch of up to maxLines lines (whole records; at least one record even if larger) after the read position; waits until data is there or the signal aborts (then resolves null; so does an already-aborted signal, or a closed spool). Does not remove anything. Only fsynced records are returned. */
  read(maxLines: number, signal?: AbortSignal): Promise<SpoolBatch | null>
  /** Marks everything up to the end of this batch as delivered: persists the cursor durably and deletes fully delivered segments. Batches are committed in the order read. */
  commit(batch: SpoolBatch): Promise<void>
  /** Rewinds the read position to the last committed cursor (used after a failed write). */
  rewind(): void
  stats(): SpoolStats
  /** Flushes pending appends (they resolve), fsyncs and closes files. Later appends reject with CSG_SPOOL_CLOSED. */
  close(): Promise<void>
}

/** The spool on local disk; `follower(name)` is the feed of a reader named in `followers`. */
export interface LocalSpool extends Spool {
  follower(name: string): SpoolFeed
}

type ResolvedOptions = Readonly<Omit<SpoolOptions, 'log' | 'followers'>> & { readonly followers: readonly string[] }

const FOLLOWER_NAME = /^[a-z][a-z0-9-]{0,31}$/

/** One reader's position: the InfluxDB writer's (`cursor.slots`) or a follower's. */
interface SpoolCursor {
  readonly name: string
  readonly file: CursorFile
  readonly reader: SpoolReader
  committed: Position
  /** Ordinals of all cursors count from the same record (the lowest cursor at open), so they compare. */
  committedOrdinal: number
}

export async function openSpool (options: SpoolOptions): Promise<LocalSpool> {
  const opts = resolveOptions(options)
  const log = options.log.child({ module: 'spool' })
  const files = [CURSOR_FILE, ...opts.followers.map(followerCursorFile)]
  const recovered = await recover(opts.dir, log, files)
  const ledger = new SpoolLedger(recovered.segments, recovered.committed, recovered.records, recovered.oldestAppendedAtMs)
  const writer = await open(segmentPath(opts.dir, ledger.last.seq), 'r+')
  const cursorFiles: CursorFile[] = []
  for (const [i, file] of files.entries()) cursorFiles.push(await openCursorFile(opts.dir, recovered.cursors[i]?.position ?? recovered.committed, file))
  const spool = new FileSpool(opts, log, ledger, writer, cursorFiles, recovered.cursors)
  log.info(spool.stats(), 'spool opened')
  return spool
}

function resolveOptions (options: SpoolOptions): ResolvedOptions {
  const o = {
    dir: options.dir,
    maxBytes: options.maxBytes,
    segmentBytes: options.segmentBytes,
    groupCommitMs: options.groupCommitMs,
    followers: Object.freeze([...(options.followers ?? [])]),
  }
  const bad = o.dir === '' ? 'dir'
    : o.followers.some(function isBadName (name, i) { return !FOLLOWER_NAME.test(name) || o.followers.indexOf(name) !== i }) ? 'followers'
    : !(Number.isSafeInteger(o.maxBytes) && o.maxBytes > 0) ? 'maxBytes'
      : !(Number.isSafeInteger(o.segmentBytes) && o.segmentBytes > 0) ? 'segmentBytes'
        : !(Number.isFinite(o.groupCommitMs) && o.groupCommitMs >= 0) ? 'groupCommitMs'
          : null
  if (bad !== null) throw new GatewayError('CSG_CONFIG_INVALID', `spool option ${bad} is invalid`)
  return Object.freeze(o)
}

// The parts, in the order a record meets them: format.ts (bytes), appender.ts (group commit),
// ledger.ts (what is on disk and undelivered), reader.ts (batches), recovery.ts (open), cursor.ts (where delivery stands).
class FileSpool implements LocalSpool {
  private readonly appender: SpoolAppender
  /** The InfluxDB writer's cursor first, then the followers' in the order configured. */
  private readonly cursors: SpoolCursor[]
  private readonly reader: SpoolReader
  private isRefusing = false // logs the transition into "full", not every refused append
  private closed = false
  private closing: Promise<void> | null = null
  private commitChain: Promise<unknown> = Promise.resolve()

  constructor (
    private readonly opts: ResolvedOptions,
    private readonly log: Logger,
    private readonly ledger: SpoolLedger,
    writer: FileHandle,
    cursorFiles: readonly CursorFile[],
    recovered: readonly RecoveredCursor[],
  ) {
    const names = ['influx', ...opts.followers]
    this.cursors = cursorFiles.map((file, i) => {
      const at = recovered[i] ?? { position: ledger.committed, ordinal: 0 }
      const reader = new SpoolReader({ dir: opts.dir, ledger, log, isClosed: () => this.closed, start: at.position, startOrdinal: at.ordinal })
      return { name: names[i] ?? String(i), file, reader, committed: at.position, committedOrdinal: at.ordinal }
    })
    this.reader = (this.cursors[0] as SpoolCursor).reader
    const readers = this.cursors.map(function readerOf (c) { return c.reader })
    this.appender = new SpoolAppender({
      dir: opts.dir,
      segmentBytes: opts.segmentBytes,
      groupCommitMs: opts.groupCommitMs,
      ledger,
      writer,
      log,
      onDurable: function wakeReaders () { for (const reader of readers) reader.wake() },
    })
  }

  append (lines: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new GatewayError('CSG_SPOOL_CLOSED'))
    if (this.appender.failure !== null) return Promise.reject(this.appender.failure)
    if (lines.length === 0) return Promise.reject(new TypeError('spool: a record needs at least one line'))
    const appendedAtMs = Date.now()
    const record = encodeRecord(lines, appendedAtMs)
    // Refuse before anything is written, so a refused message leaves no trace and gets no PUBACK.
    if (this.ledger.undeliveredBytes() + this.appender.pendingBytes + record.length > this.opts.maxBytes) {
      if (!this.isRefusing) this.log.warn({ maxBytes: this.opts.maxBytes }, 'spool full: refusing appends until the writer catches up')
      this.isRefusing = true
      return Promise.reject(new GatewayError('CSG_SPOOL_FULL'))
    }
    if (this.isRefusing) this.log.info('spool has room again')
    this.isRefusing = false
    return this.appender.append(record, appendedAtMs)
  }

  read (maxLines: number, signal?: AbortSignal): Promise<SpoolBatch | null> {
    return this.readFor(this.cursors[0] as SpoolCursor, maxLines, signal)
  }

  commit (batch: SpoolBatch): Promise<void> {
    return this.commitFor(this.cursors[0] as SpoolCursor, batch)
  }

  rewind (): void {
    this.rewindFor(this.cursors[0] as SpoolCursor)
  }

  follower (name: string): SpoolFeed {
    const cursor = this.cursors.find(function isNamed (c, i) { return i > 0 && c.name === name })
    if (cursor === undefined) throw new TypeError(`spool: no follower named ${name}`)
    return {
      read: (maxLines, signal) => this.readFor(cursor, maxLines, signal),
      commit: (batch) => this.commitFor(cursor, batch),
      rewind: () => { this.rewindFor(cursor) },
    }
  }

  private readFor (cursor: SpoolCursor, maxLines: number, signal?: AbortSignal): Promise<SpoolBatch | null> {
    if (!(Number.isSafeInteger(maxLines) && maxLines > 0)) return Promise.reject(new TypeError('spool: maxLines must be a positive integer'))
    if (this.closed) return Promise.resolve(null)
    return cursor.reader.read(maxLines, signal)
  }

  private commitFor (cursor: SpoolCursor, batch: SpoolBatch): Promise<void> {
    const mark = batchMarkOf(batch)
    if (mark?.owner !== cursor.reader) return Promise.reject(new TypeError('spool: not a batch read from this spool'))
    // Commits asked for before close() still run (close waits for them); later ones are refused.
    if (this.closed) return Promise.reject(new GatewayError('CSG_SPOOL_CLOSED'))
    // Serialised: cursor files must be written in order, and segments are dropped by one commit at a time.
    const commitNext = (): Promise<void> => this.commitMark(cursor, mark)
    const result = this.commitChain.then(commitNext)
    this.commitChain = result.catch(function keepChainGoing () { return undefined })
    return result
  }

  private async commitMark (cursor: SpoolCursor, mark: BatchMark): Promise<void> {
    const ledger = this.ledger
    if (mark.endOrdinal <= cursor.committedOrdinal) return // already committed (e.g. re-read after a rewind)
    if (mark.startOrdinal !== cursor.committedOrdinal) throw new Error('spool: batches must be committed in the order they were read')
    const end = ledger.normalize(mark.end)
    await cursor.file.write(end)
    cursor.committed = end
    cursor.committedOrdinal = mark.endOrdinal
    if (cursor.reader.ordinal < cursor.committedOrdinal) cursor.reader.moveTo(end, cursor.committedOrdinal)
    // What every reader has delivered: the lowest cursor decides which segments may go.
    const lowest = this.cursors.reduce(function lower (a, b) { return b.committedOrdinal < a.committedOrdinal ? b : a })
    if (lowest.committedOrdinal <= ledger.committedOrdinal) return
    ledger.committed = ledger.normalize(lowest.committed)
    ledger.committedOrdinal = lowest.committedOrdinal
    await this.dropDelivered()
    await this.refreshOldest()
  }

  // Deleted only after the cursor past them is durable: a crash in between leaves files that open() deletes.
  private async dropDelivered (): Promise<void> {
    const log = this.log
    for (;;) {
      const seq = this.ledger.shiftDelivered()
      if (seq === null) return
      // Release the deleted file's disk space now unless a read is using the handle (it lets go when it moves on).
      for (const cursor of this.cursors) await cursor.reader.release(seq)
      await unlink(segmentPath(this.opts.dir, seq)).catch(function warnNotDeleted (err: unknown) {
        log.warn({ err, segment: seq }, 'could not delete a delivered spool segment')
      })
    }
  }

  private async refreshOldest (): Promise<void> {
    const ledger = this.ledger
    if (ledger.depthRecords === 0) {
      ledger.oldestAppendedAtMs = null
      return
    }
    const at = ledger.normalize(ledger.committed)
    if (at.offset >= ledger.segmentOf(at.seq).size) return
    try {
      const appendedAtMs = await readRecordTime(this.opts.dir, at.seq, at.offset)
      if (appendedAtMs !== null) ledger.oldestAppendedAtMs = appendedAtMs
    } catch (err) {
      this.log.warn({ err }, 'could not read the oldest spool record time')
    }
  }

  private rewindFor (cursor: SpoolCursor): void {
    // Also wakes a read waiting at the old position: it has data again.
    cursor.reader.moveTo(this.ledger.normalize(cursor.committed), cursor.committedOrdinal)
  }

  stats (): SpoolStats {
    const { oldestAppendedAtMs } = this.ledger
    return {
      depthBytes: this.ledger.undeliveredBytes(),
      depthRecords: this.ledger.depthRecords,
      oldestRecordAgeMs: oldestAppendedAtMs === null ? null : Math.max(0, Date.now() - oldestAppendedAtMs),
      segments: this.ledger.segments.length,
      appendedRecords: this.appender.appendedRecords,
      fsyncs: this.appender.fsyncs,
    }
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    this.closed = true
    await this.appender.drain()
    for (const cursor of this.cursors) cursor.reader.wake()
    for (const cursor of this.cursors) await cursor.reader.settled()
    await this.commitChain
    try {
      for (const cursor of this.cursors) await cursor.reader.close()
    } finally {
      await this.appender.close()
      for (const cursor of this.cursors) await cursor.file.close()
    }
    this.log.info(this.stats(), 'spool closed')
  }
}
