// Enters: the lines of one record and its append time; bytes read back from a segment file.
// Leaves: the record's on-disk bytes; its decoded header, or why the bytes there are not a record.
// Pure (no I/O). A payload counts as intact only if its length fits and its CRC-32 matches.
import { crc32 } from 'node:zlib'

// Record layout (little-endian): magic/version u8 | payload length u32 | CRC-32 of payload u32 |
// append time ms u64 | payload = lines joined by '\n', UTF-8.
/** Format version 1; any other byte at a record start is a torn or foreign tail. */
export const RECORD_MAGIC = 0xa1
export const HEADER_BYTES = 17

/** Why the bytes at an offset are not a whole, valid record. Also logged as `reason`. */
export type RecordFault = 'bad record header' | 'record cut short' | 'checksum mismatch'

export interface RecordHeader {
  readonly payloadBytes: number
  readonly crc: number
  readonly appendedAtMs: number
}

export interface DecodedRecord {
  readonly header: RecordHeader
  readonly payload: Buffer
  /** Bytes of the whole record, header included. */
  readonly bytes: number
}

export function encodeRecord (lines: readonly string[], appendedAtMs: number): Buffer {
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

/** The header starting at `at`; the payload after it is not looked at. */
export function decodeHeader (buffer: Buffer, at: number): RecordHeader | RecordFault {
  if (at + HEADER_BYTES > buffer.length) return 'record cut short'
  if (buffer[at] !== RECORD_MAGIC) return 'bad record header'
  return {
    payloadBytes: buffer.readUInt32LE(at + 1),
    crc: buffer.readUInt32LE(at + 5),
    appendedAtMs: buffer.readUInt32LE(at + 9) + buffer.readUInt32LE(at + 13) * 2 ** 32,
  }
}

export function hasValidChecksum (header: RecordHeader, payload: Buffer): boolean {
  return crc32(payload) === header.crc
}

/** The whole record starting at `at`, which must lie entirely within `buffer`. The payload is a view, not a copy. */
export function decodeRecord (buffer: Buffer, at: number): DecodedRecord | RecordFault {
  const header = decodeHeader(buffer, at)
  if (typeof header === 'string') return header
  const bytes = HEADER_BYTES + header.payloadBytes
  if (at + bytes > buffer.length) return 'record cut short'
  const payload = buffer.subarray(at + HEADER_BYTES, at + bytes)
  if (!hasValidChecksum(header, payload)) return 'checksum mismatch'
  return { header, payload, bytes }
}

export const NEWLINE = 0x0a

/** How many lines a payload holds: one more than its '\n' bytes. */
export function payloadLineCount (payload: Buffer): number {
  let count = 1
  for (let at = payload.indexOf(NEWLINE); at !== -1; at = payload.indexOf(NEWLINE, at + 1)) count++
  return count
}

export function recordLines (payload: Buffer): string[] {
  return payload.toString('utf8').split('\n')
}
