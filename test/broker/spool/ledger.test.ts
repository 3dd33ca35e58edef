// Enters: segment tables built in memory. Checks the ledger's bookkeeping: position normalizing across
// sealed segments, undelivered bytes from the committed cursor, durable counts, and dropping delivered segments.
import { describe, expect, it } from 'vitest'
import { SpoolLedger } from '../../../broker/spool/ledger.ts'

function threeSegments (): SpoolLedger {
  return new SpoolLedger([{ seq: 3, size: 100 }, { seq: 4, size: 50 }, { seq: 5, size: 20 }], { seq: 3, offset: 40 }, 7, 1000)
}

describe('spool ledger', () => {
  it('moves a position at the end of a sealed segment, or in a deleted one, to the next start', () => {
    const ledger = threeSegments()
    expect(ledger.normalize({ seq: 3, offset: 40 })).toEqual({ seq: 3, offset: 40 })
    expect(ledger.normalize({ seq: 3, offset: 100 })).toEqual({ seq: 4, offset: 0 })
    expect(ledger.normalize({ seq: 2, offset: 9 })).toEqual({ seq: 3, offset: 0 })
    // The last segment is still growing: its end stays its end.
    expect(ledger.normalize({ seq: 5, offset: 20 })).toEqual({ seq: 5, offset: 20 })
    expect(ledger.isDurableEnd(ledger.normalize({ seq: 5, offset: 20 }))).toBe(true)
    expect(ledger.isDurableEnd({ seq: 4, offset: 50 })).toBe(false)
  })

  it('counts undelivered bytes from the committed cursor, and durable groups into the last segment', () => {
    const ledger = threeSegments()
    expect(ledger.undeliveredBytes()).toBe(60 + 50 + 20)
    expect(ledger.depthRecords).toBe(7)
    ledger.addDurable(ledger.last, 30, 2, 2000)
    expect(ledger.undeliveredBytes()).toBe(160)
    expect(ledger.depthRecords).toBe(9)
    expect(ledger.oldestAppendedAtMs).toBe(1000) // the oldest stays the oldest
    expect(() => ledger.segmentOf(9)).toThrow(/not open/)
  })

  it('drops fully delivered segments, never the last, and moves a cursor at a dropped end to the next start', () => {
    const ledger = threeSegments()
    expect(ledger.shiftDelivered()).toBeNull()
    ledger.committed = { seq: 4, offset: 50 }
    expect(ledger.shiftDelivered()).toBe(3)
    expect(ledger.shiftDelivered()).toBe(4)
    expect(ledger.committed).toEqual({ seq: 5, offset: 0 })
    ledger.committed = { seq: 5, offset: 20 }
    expect(ledger.shiftDelivered()).toBeNull()
    expect(ledger.segments).toEqual([{ seq: 5, size: 20 }])
  })
})
