// Open connections in total and per address, counted at accept.
import { describe, expect, it } from 'vitest'
import { createConnectionLimiter } from '../../../../broker/mqtt/guards/connection-limit.ts'

describe('connection limiter', () => {
  it('refuses beyond the per-IP and the total limit, and frees slots on release', () => {
    const limiter = createConnectionLimiter({ maxTotal: 3, maxPerIp: 2 })
    expect(limiter.admit('a')).toBe('ok')
    expect(limiter.admit('a')).toBe('ok')
    expect(limiter.admit('a')).toBe('connections_per_ip')
    expect(limiter.admit('b')).toBe('ok')
    expect(limiter.admit('c')).toBe('connections')
    limiter.release('a')
    expect(limiter.open).toBe(2)
    expect(limiter.admit('c')).toBe('ok')
    limiter.release('unknown')
    expect(limiter.open).toBe(3)
  })
})
