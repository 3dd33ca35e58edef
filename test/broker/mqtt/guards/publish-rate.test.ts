// The publish token bucket: bursts, paced delays and refusals beyond the longest delay.
import { describe, expect, it } from 'vitest'
import { createRateLimiter } from '../../../../broker/mqtt/guards/publish-rate.ts'
import { clock } from '../../../helpers/clock.ts'

describe('publish token bucket', () => {
  it('allows a burst, then paces the sustained rate by delays, and refuses beyond the longest delay', () => {
    const c = clock()
    const limiter = createRateLimiter({ ratePerSec: 10, burst: 5, maxDelayMs: 250, now: c.now })
    // Five tokens in the bucket, then each publish borrows the next token: 100 ms apart at 10/s.
    expect(Array.from({ length: 8 }, () => limiter.reserve('d'))).toEqual([0, 0, 0, 0, 0, 100, 200, undefined])
    expect(limiter.reserve('other')).toBe(0)
    c.advance(100)
    // One borrowed token was repaid: room for one more wait of at most 250 ms.
    expect(limiter.reserve('d')).toBe(200)
    expect(limiter.reserve('d')).toBeUndefined()
    c.advance(10_000)
    expect(Array.from({ length: 6 }, () => limiter.reserve('d'))).toEqual([0, 0, 0, 0, 0, 100])
  })

  it('never refills above the burst, however long a name was quiet', () => {
    const c = clock()
    const limiter = createRateLimiter({ ratePerSec: 1, burst: 2, maxDelayMs: 0, now: c.now })
    c.advance(3_600_000)
    expect(Array.from({ length: 3 }, () => limiter.reserve('d'))).toEqual([0, 0, undefined])
  })
})
