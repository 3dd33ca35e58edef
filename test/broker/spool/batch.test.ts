// Enters: lines as strings or as their joined bytes. Checks that each form gives the other exactly.
import { describe, expect, it } from 'vitest'
import { batchOfBody, batchOfLines, linesOf } from '../../../broker/spool/batch.ts'

describe('spool batch', () => {
  const lines = ['m,district=Straße v=1i 1', 'm,district=north v=2i,note="ünïcødé" 2', 'm v=3i 3']
  const body = Buffer.from(lines.join('\n'), 'utf8')

  it('a batch read as bytes gives its lines, split at \\n and decoded as UTF-8', () => {
    const batch = batchOfBody(body, lines.length, 2, 99)
    expect(batch).toMatchObject({ lineCount: 3, records: 2, bytes: 99 })
    expect(batch.body).toBe(body)
    expect(batch.lines).toEqual(lines)
    expect(batch.lines).toBe(batch.lines) // decoded once
  })

  it('a batch made of lines gives the bytes InfluxDB takes', () => {
    const batch = batchOfLines(lines, 3, 0)
    expect(batch.lineCount).toBe(3)
    expect(batch.body.equals(body)).toBe(true)
    expect(batch.body).toBe(batch.body) // encoded once
    expect(linesOf(lines).body.equals(body)).toBe(true)
  })

  it('no lines are no bytes, and no bytes are no lines', () => {
    expect(batchOfLines([], 0, 0).body.length).toBe(0)
    expect(batchOfBody(Buffer.alloc(0), 0, 0, 0).lines).toEqual([])
  })
})
