// Enters: a spool directory, segment sequence numbers, open segment file handles and byte ranges.
// Leaves: segment names, whole reads and writes, and the valid records of a range, in file order.
// walkRecords streams through one caller-owned buffer: RAM stays flat however large a segment is.
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeHeader, decodeRecord, hasValidChecksum, HEADER_BYTES, type DecodedRecord, type RecordFault, type RecordHeader } from './format.ts'

/** Size of the one read buffer a reader or a recovery scan owns. */
export const READ_CHUNK_BYTES = 1024 ** 2
const SEGMENT_NAME = /^(\d{20})\.seg$/

export function segmentPath (dir: string, seq: number): string {
  return join(dir, `${String(seq).padStart(20, '0')}.seg`)
}

/** Sequence numbers of the segment files among `names` (a directory listing), ascending. */
export function segmentSeqs (names: readonly string[]): number[] {
  const seqs: number[] = []
  for (const name of names) {
    const digits = SEGMENT_NAME.exec(name)?.[1]
    if (digits !== undefined) seqs.push(Number(digits))
  }
  return seqs.sort(function ascending (a, b) { return a - b })
}

export const TAKE = 0
export const TAKE_AND_STOP = 1
export const STOP = 2
export type Verdict = typeof TAKE | typeof TAKE_AND_STOP | typeof STOP
export type RecordVisitor = (appendedAtMs: number, payload: Buffer) => Verdict
/** `end`: where the walk stopped; `fault`: why, if a record there was bad; `isStopped`: the visitor stopped it. */
export interface Walk { end: number, fault: RecordFault | null, isStopped: boolean }

/** Visits whole, valid records in [from, limit), reading through `chunk`; stops at the first bad one. */
export async function walkRecords (handle: FileHandle, chunk: Buffer, from: number, limit: number, visit: RecordVisitor): Promise<Walk> {
  let offset = from
  while (offset < limit) {
    const n = await readFully(handle, chunk, Math.min(chunk.length, limit - offset), offset)
    const view = chunk.subarray(0, n)
    let p = 0
    while (p + HEADER_BYTES <= n) {
      const at = offset + p
      let record = decodeRecord(view, p)
      if (record === 'record cut short') {
        // The header is in this chunk but the payload runs past it: torn if it also runs past the range.
        const header = decodeHeader(view, p) as RecordHeader
        if (at + HEADER_BYTES + header.payloadBytes > limit) return { end: at, fault: record, isStopped: false }
        if (p > 0) break // continue from this record with a fresh chunk
        record = await readOversizedRecord(handle, header, at) // larger than the chunk: read it alone
      }
      if (typeof record === 'string') return { end: at, fault: record, isStopped: false }
      const verdict = visit(record.header.appendedAtMs, record.payload)
      if (verdict === STOP) return { end: at, fault: null, isStopped: true }
      p += record.bytes
      if (verdict === TAKE_AND_STOP) return { end: offset + p, fault: null, isStopped: true }
    }
    if (p === 0) return { end: offset, fault: 'record cut short', isStopped: false } // fewer bytes left than a header
    offset += p
  }
  return { end: offset, fault: null, isStopped: false }
}

async function readOversizedRecord (handle: FileHandle, header: RecordHeader, at: number): Promise<DecodedRecord | RecordFault> {
  const payload = Buffer.allocUnsafe(header.payloadBytes)
  if (await readFully(handle, payload, header.payloadBytes, at + HEADER_BYTES) < header.payloadBytes) return 'record cut short'
  if (!hasValidChecksum(header, payload)) return 'checksum mismatch'
  return { header, payload, bytes: HEADER_BYTES + header.payloadBytes }
}

/** Append time of the record at `offset` of segment `seq`, or null if no record header is there. */
export async function readRecordTime (dir: string, seq: number, offset: number): Promise<number | null> {
  const header = Buffer.allocUnsafe(HEADER_BYTES)
  const handle = await open(segmentPath(dir, seq), 'r')
  try {
    if (await readFully(handle, header, HEADER_BYTES, offset) < HEADER_BYTES) return null
    const decoded = decodeHeader(header, 0)
    return typeof decoded === 'string' ? null : decoded.appendedAtMs
  } finally {
    await handle.close()
  }
}

/** Reads until `length` bytes or end of file; returns the bytes read. */
export async function readFully (handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<number> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

export async function writeFully (handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done)
    if (bytesWritten === 0) throw new Error('spool: write made no progress')
    done += bytesWritten
  }
}

/** Makes created, renamed or deleted directory entries durable. */
export async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export function isDiskFull (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'ENOSPC' || code === 'EDQUOT'
}
