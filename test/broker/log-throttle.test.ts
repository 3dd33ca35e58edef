// One log line per offender and period, with the count held back.
import { describe, expect, it } from 'vitest'
import { createLogThrottle } from '../../broker/log-throttle.ts'
import { clock } from '../helpers/clock.ts'

describe('log throttle', () => {
  it('lets one event per key and period through and reports how many it held back', () => {
    const c = clock()
    const throttle = createLogThrottle(60_000, c.now)
    expect(throttle.take('ip:a')).toBe(0)
    expect(throttle.take('ip:a')).toBeUndefined()
    expect(throttle.take('ip:a')).toBeUndefined()
    expect(throttle.take('ip:b')).toBe(0)
    c.advance(60_000)
    expect(throttle.take('ip:a')).toBe(2)
  })
})
