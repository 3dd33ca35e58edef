// The per-key increasing clock: events in one millisecond stay apart, keys do not affect each other.
import { describe, expect, it } from 'vitest'
import { createIncreasingClock } from '../../broker/increasing-clock.ts'

describe('createIncreasingClock', () => {
  it('takes a later candidate as it is', () => {
    const clock = createIncreasingClock()
    expect(clock.next('a', 1000)).toBe(1000)
    expect(clock.next('a', 1005)).toBe(1005)
  })

  it('moves a candidate in the same millisecond, or earlier, to 1 ms after the last time', () => {
    const clock = createIncreasingClock()
    expect([1000, 1000, 1000, 999, 1002, 1004].map((ms) => clock.next('a', ms))).toEqual([1000, 1001, 1002, 1003, 1004, 1005])
  })

  it('keeps keys apart', () => {
    const clock = createIncreasingClock()
    expect(clock.next('a', 1000)).toBe(1000)
    expect(clock.next('b', 1000)).toBe(1000)
    expect(clock.next('a', 1000)).toBe(1001)
    expect(clock.next('b', 500)).toBe(1001)
  })

  it('takes the candidate of a forgotten key as it is', () => {
    const clock = createIncreasingClock()
    clock.next('a', 1000)
    clock.next('a', 1000)
    clock.forget('a')
    expect(clock.next('a', 1000)).toBe(1000)
  })
})
