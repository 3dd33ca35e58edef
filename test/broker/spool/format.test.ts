// Enters: records built in memory. Checks the on-disk record format: round trip, the fixed layout,
// and that a flipped payload byte, a foreign header and cut-short headers or payloads are each reported.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeHeader, decodeRecord, encodeRecord, hasValidChecksum, HEADER_BYTES, RECORD_MAGIC, recordLines, type DecodedRecord } from '../../../broker/spool/format.ts'

const APPENDED_AT_MS = 1_732_550_400_123 // needs more than 32 bits: both halves of the u64 are used

function flipBits (buffer: Buffer, at: number, mask: number): void {
  buffer.writeUInt8(buffer.readUInt8(at) ^ mask, at)
}

describe('spool record format', () => {
  it('round-trips lines and append time through encode and decode', () => {
    const lines = ['m,id=a v=1i', 'm,id=ä v="ü"']
    const record = encodeRecord(lines, APPENDED_AT_MS)
    const decoded = decodeRecord(record, 0) as DecodedRecord
    expect(decoded.header.appendedAtMs).toBe(APPENDED_AT_MS)
    expect(decoded.header.payloadBytes).toBe(Buffer.byteLength(lines.join('\n')))
    expect(decoded.bytes).toBe(record.length)
    expect(recordLines(decoded.payload)).toEqual(lines)
  })

  it('round-trips any lines without a newline, at any offset of a buffer', () => {
    const lineArb = fc.string({ unit: 'grapheme', maxLength: 40 }).filter(function hasNoNewline (s) { return !s.includes('\n') })
    fc.assert(fc.property(fc.array(lineArb, { minLength: 1, maxLength: 5 }), fc.nat({ max: 2 ** 52 }), fc.nat({ max: 9 }), function roundTrips (lines, appendedAtMs, at) {
      const buffer = Buffer.concat([Buffer.alloc(at, 0x55), encodeRecord(lines, appendedAtMs), Buffer.from('next')])
      const decoded = decodeRecord(buffer, at) as DecodedRecord
      expect(decoded.header.appendedAtMs).toBe(appendedAtMs)
      expect(recordLines(decoded.payload)).toEqual(lines)
    }))
  })

  it('lays a record out as magic | length | CRC-32 | time ms | payload, little-endian', () => {
    const record = encodeRecord(['ab', 'c'], APPENDED_AT_MS)
    expect(HEADER_BYTES).toBe(17)
    expect(record[0]).toBe(RECORD_MAGIC)
    expect(record.readUInt32LE(1)).toBe(4)
    expect(record.readBigUInt64LE(9)).toBe(BigInt(APPENDED_AT_MS))
    expect(record.subarray(HEADER_BYTES).toString('utf8')).toBe('ab\nc')
  })

  it('detects a payload whose CRC does not match', () => {
    const record = encodeRecord(['good payload'], APPENDED_AT_MS)
    flipBits(record, HEADER_BYTES + 3, 0x01)
    expect(decodeRecord(record, 0)).toBe('checksum mismatch')
    const header = decodeHeader(record, 0)
    if (typeof header === 'string') throw new Error(header)
    expect(hasValidChecksum(header, record.subarray(HEADER_BYTES))).toBe(false)
  })

  it('detects a damaged CRC field', () => {
    const record = encodeRecord(['good payload'], APPENDED_AT_MS)
    flipBits(record, 5, 0x80)
    expect(decodeRecord(record, 0)).toBe('checksum mismatch')
  })

  it('detects a header that is not a record start', () => {
    const record = encodeRecord(['x'], APPENDED_AT_MS)
    record[0] = 0x00
    expect(decodeHeader(record, 0)).toBe('bad record header')
    expect(decodeRecord(record, 0)).toBe('bad record header')
  })

  it('detects a header cut short', () => {
    const record = encodeRecord(['x'], APPENDED_AT_MS)
    for (const keep of [0, 1, HEADER_BYTES - 1]) {
      expect(decodeHeader(record.subarray(0, keep), 0)).toBe('record cut short')
      expect(decodeRecord(record.subarray(0, keep), 0)).toBe('record cut short')
    }
  })

  it('detects a payload cut short, while its header still decodes', () => {
    const record = encodeRecord(['a payload of some length'], APPENDED_AT_MS)
    for (const keep of [HEADER_BYTES, HEADER_BYTES + 1, record.length - 1]) {
      const torn = record.subarray(0, keep)
      expect(decodeHeader(torn, 0)).toMatchObject({ appendedAtMs: APPENDED_AT_MS })
      expect(decodeRecord(torn, 0)).toBe('record cut short')
    }
  })

  it('decodes records back to back, and an empty line as a record of one empty line', () => {
    const first = encodeRecord([''], APPENDED_AT_MS)
    const second = encodeRecord(['b'], APPENDED_AT_MS + 1)
    const buffer = Buffer.concat([first, second])
    const one = decodeRecord(buffer, 0) as DecodedRecord
    expect(recordLines(one.payload)).toEqual([''])
    const two = decodeRecord(buffer, one.bytes) as DecodedRecord
    expect(recordLines(two.payload)).toEqual(['b'])
    expect(two.header.appendedAtMs).toBe(APPENDED_AT_MS + 1)
  })
})
