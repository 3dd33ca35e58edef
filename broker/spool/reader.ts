// Enters: read requests (max lines, abort signal) and moves of the read position (rewind, commit past it).
// Leaves: batches of whole fsynced records in append order, each marked with where it ends for commit.
// Reads are serialised; one file handle and one 1 MiB buffer, whatever the spool's depth. A batch's
// lines stay bytes (the body InfluxDB takes) until someone asks for them as strings.
import { open, type FileHandle } from 'node:fs/promises'
import type { Logger } from 'pino'
import { batchOfBody, type SpoolBatch } from './batch.ts'
import { HEADER_BYTES, NEWLINE, payloadLineCount } from './format.ts'
import { READ_CHUNK_BYTES, segmentPath, STOP, TAKE, TAKE_AND_STOP, walkRecords, type Verdict } from './files.ts'
import type { Position, SpoolLedger } from './ledger.ts'

/** Where a batch starts and ends, as record ordinals and as a position; kept out of the writer's reach. */
export interface BatchMark { readonly owner: SpoolReader, readonly startOrdinal: number, readonly end: Position, readonly endOrdinal: number }

// Keeps SpoolBatch opaque: the writer cannot forge or edit where a batch ends.
const batchMarks = new WeakMap<SpoolBatch, BatchMark>()

export function batchMarkOf (batch: SpoolBatch): BatchMark | undefined {
  return batchMarks.get(batch)
}

export interface ReaderOptions {
  readonly dir: string
  readonly ledger: SpoolLedger
  readonly log: Logger
  /** Once true, reads end with null instead of waiting. */
  readonly isClosed: () => boolean
  /** Where this reader's cursor stands, and the ordinal of the record there. */
  readonly start: Position
  readonly startOrdinal: number
}

export class SpoolReader {
  private pos: Position
  private readOrdinal = 0
  private epoch = 0 // bumped by moveTo to restart a read in flight from the new position
  private chain: Promise<unknown> = Promise.resolve()
  private readonly waiters = new Set<() => void>()
  private current: { seq: number, handle: FileHandle } | null = null
  private isWalking = false // a read is between awaits on `current`: its handle must stay open
  private readonly buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)

  constructor (private readonly opts: ReaderOptions) {
    this.pos = opts.start
    this.readOrdinal = opts.startOrdinal
  }

  /** Ordinal of the next record to read. */
  get ordinal (): number {
    return this.readOrdinal
  }

  read (maxLines: number, signal: AbortSignal | undefined): Promise<SpoolBatch | null> {
    // Each read continues where the previous one stopped.
    const readNext = (): Promise<SpoolBatch | null> => this.readBatch(maxLines, signal)
    const result = this.chain.then(readNext)
    this.chain = result.catch(function keepChainGoing () { return undefined })
    return result
  }

  /** Restarts reading from `pos` (which holds record `ordinal`), also a read in flight or waiting. */
  moveTo (pos: Position, ordinal: number): void {
    this.pos = pos
    this.readOrdinal = ordinal
    this.epoch++
    this.wake()
  }

  /** Wakes reads waiting for data (appended, rewound, or the spool is closing). */
  wake (): void {
    for (const wake of [...this.waiters]) wake()
  }

  /** Lets go of segment `seq` (about to be deleted) unless a read is using it; that read lets go when it moves on. */
  async release (seq: number): Promise<void> {
    if (this.current?.seq !== seq || this.isWalking) return
    const { handle } = this.current
    this.current = null
    await handle.close()
  }

  /** Resolves once the reads asked for so far have ended (wake them first if the spool is closing). */
  async settled (): Promise<void> {
    await this.chain
  }

  /** Call after settled(): closes the file handle. */
  async close (): Promise<void> {
    if (this.current !== null) await this.current.handle.close()
    this.current = null
  }

  private async readBatch (maxLines: number, signal: AbortSignal | undefined): Promise<SpoolBatch | null> {
    const { ledger, isClosed } = this.opts
    for (;;) {
      if (isClosed() || signal?.aborted === true) return null
      const start = ledger.normalize(this.pos)
      if (start.offset >= ledger.segmentOf(start.seq).size) {
        await this.waitForData(signal)
        continue
      }
      const epoch = this.epoch
      const startOrdinal = this.readOrdinal
      const body = new BodyBuilder(Math.min(READ_CHUNK_BYTES, ledger.segmentOf(start.seq).size - start.offset))
      let lineCount = 0
      let records = 0
      let bytes = 0
      let pos = start
      let isStopped = false
      const take = function takeRecord (_appendedAtMs: number, payload: Buffer): Verdict {
        const recordLineCount = payloadLineCount(payload)
        if (records > 0 && lineCount + recordLineCount > maxLines) return STOP
        body.add(payload)
        lineCount += recordLineCount
        records++
        bytes += HEADER_BYTES + payload.length
        return lineCount >= maxLines ? TAKE_AND_STOP : TAKE
      }
      this.isWalking = true
      try {
        while (!isStopped) {
          pos = ledger.normalize(pos)
          const segment = ledger.segmentOf(pos.seq)
          const limit = segment.size
          if (pos.offset >= limit) break
          const handle = await this.handleFor(segment.seq)
          const walk = await walkRecords(handle, this.buffer, pos.offset, limit, take)
          isStopped = walk.isStopped
          if (walk.fault === null) {
            pos = { seq: segment.seq, offset: walk.end }
          } else {
            // Records written by this process were checked on open or written since: this is damage on disk.
            // Lengths past it cannot be trusted, so skip the rest of this segment; the next commit frees it.
            this.opts.log.error({ code: 'CSG_SPOOL_CORRUPT', segment: segment.seq, offset: walk.end, skippedBytes: limit - walk.end, reason: walk.fault }, 'spool record corrupt; skipping the rest of the segment')
            pos = { seq: segment.seq, offset: limit }
          }
        }
      } finally {
        this.isWalking = false
      }
      if (isClosed() && records === 0) return null
      if (epoch !== this.epoch) continue // rewound or committed past us meanwhile: start again from there
      this.pos = pos
      if (records === 0) continue // only skipped corrupt bytes
      // At the durable end the ordinal is known exactly; this also re-syncs ordinals after a skipped corrupt range.
      const endOrdinal = ledger.isDurableEnd(ledger.normalize(pos)) ? ledger.durableOrdinal : startOrdinal + records
      this.readOrdinal = endOrdinal
      const batch = batchOfBody(body.bytes(), lineCount, records, bytes)
      batchMarks.set(batch, { owner: this, startOrdinal, end: pos, endOrdinal })
      return batch
    }
  }

  private waitForData (signal: AbortSignal | undefined): Promise<void> {
    const waitForWake = (resolve: () => void): void => {
      const wake = (): void => {
        this.waiters.delete(wake)
        signal?.removeEventListener('abort', wake)
        resolve()
      }
      this.waiters.add(wake)
      signal?.addEventListener('abort', wake, { once: true })
    }
    return new Promise<void>(waitForWake)
  }

  private async handleFor (seq: number): Promise<FileHandle> {
    if (this.current?.seq === seq) return this.current.handle
    const previous = this.current
    this.current = null
    if (previous !== null) await previous.handle.close()
    const handle = await open(segmentPath(this.opts.dir, seq), 'r')
    this.current = { seq, handle }
    return handle
  }
}

/** Record payloads joined by '\n', copied out of the read buffer into one growing allocation. */
class BodyBuilder {
  private buffer: Buffer
  private used = 0

  constructor (expectedBytes: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(64, expectedBytes))
  }

  add (payload: Buffer): void {
    const separator = this.used === 0 ? 0 : 1
    const needed = this.used + separator + payload.length
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2))
      this.buffer.copy(grown, 0, 0, this.used)
      this.buffer = grown
    }
    if (separator === 1) this.buffer[this.used++] = NEWLINE
    this.used += payload.copy(this.buffer, this.used)
  }

  bytes (): Buffer {
    return this.buffer.subarray(0, this.used)
  }
}
