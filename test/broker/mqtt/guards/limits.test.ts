// Abuse-limit bookkeeping: connection counts, failed-login backoff and lockout, the log throttle,
// the publish token bucket and topic limits, on a fake clock.
import { describe, expect, it } from 'vitest'
import { createConnectionLimiter } from '../../../../broker/mqtt/guards/connection-limit.ts'
import { createLogThrottle } from '../../../../broker/log-throttle.ts'
import { createLoginGuard } from '../../../../broker/mqtt/guards/login-guard.ts'
import { createRateLimiter } from '../../../../broker/mqtt/guards/publish-rate.ts'
import { topicLimitExceeded } from '../../../../broker/mqtt/topics.ts'

function clock (startMs = 1_000_000) {
  let t = startMs
  return { now: () => t, advance (ms: number) { t += ms } }
}

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

describe('login guard', () => {
  const options = { backoffAfter: 2, lockoutAfter: 5, windowMs: 60_000, lockoutMs: 300_000, backoffMaxMs: 4000 }

  it('delays refusals after the backoff threshold, doubling up to the maximum', () => {
    const c = clock()
    const guard = createLoginGuard({ ...options, now: c.now })
    const delays = [1, 2, 3, 4].map(() => guard.failed('1.2.3.4', 'x').delayMs)
    expect(delays).toEqual([0, 0, 1000, 2000])
    const guard2 = createLoginGuard({ ...options, lockoutAfter: 100, now: c.now })
    const more = Array.from({ length: 6 }, () => guard2.failed('5.6.7.8', undefined).delayMs)
    expect(more).toEqual([0, 0, 1000, 2000, 4000, 4000])
  })

  it('locks out an IP after the threshold, for the lockout period only', () => {
    const c = clock()
    const guard = createLoginGuard({ ...options, now: c.now })
    const started = Array.from({ length: 5 }, (_, i) => guard.failed('9.9.9.9', `u${i}`).lockoutStarted)
    expect(started.at(-1)).toEqual(['ip'])
    expect(guard.lockedOut('9.9.9.9', 'someone')).toMatchObject({ scope: 'ip' })
    expect(guard.lockedOut('8.8.8.8', 'someone')).toBeUndefined()
    c.advance(300_001)
    expect(guard.lockedOut('9.9.9.9', 'someone')).toBeUndefined()
  })

  it('locks out a username from other addresses but spares the address it last logged in from', () => {
    const c = clock()
    const guard = createLoginGuard({ ...options, now: c.now })
    guard.succeeded('10.0.0.1', 'dev-1')
    for (let i = 0; i < 5; i++) guard.failed(`172.16.0.${i}`, 'dev-1')
    expect(guard.lockedOut('172.16.0.200', 'dev-1')).toMatchObject({ scope: 'username' })
    expect(guard.lockedOut('10.0.0.1', 'dev-1')).toBeUndefined()
  })

  it('spares known-good devices behind a locked-out NAT address', () => {
    const c = clock()
    const guard = createLoginGuard({ ...options, now: c.now })
    guard.succeeded('100.64.0.1', 'dev-good')
    for (let i = 0; i < 5; i++) guard.failed('100.64.0.1', `bad-${i}`)
    expect(guard.lockedOut('100.64.0.1', 'dev-good')).toBeUndefined()
    expect(guard.lockedOut('100.64.0.1', 'dev-new')).toMatchObject({ scope: 'ip' })
  })

  it('forgets failures once the window has passed', () => {
    const c = clock()
    const guard = createLoginGuard({ ...options, now: c.now })
    for (let i = 0; i < 4; i++) guard.failed('1.1.1.1', 'x')
    c.advance(60_001)
    expect(guard.failed('1.1.1.1', 'x')).toEqual({ delayMs: 0, backoffStarted: [], lockoutStarted: [] })
  })
})

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

describe('topic limits', () => {
  it('measures length in UTF-8 bytes and depth in levels', () => {
    expect(topicLimitExceeded('devices/a/telemetry', 256, 8)).toBeUndefined()
    expect(topicLimitExceeded('x'.repeat(257), 256, 8)).toBe('topic_length')
    expect(topicLimitExceeded('é'.repeat(129), 256, 8)).toBe('topic_length')
    expect(topicLimitExceeded('é'.repeat(128), 256, 8)).toBeUndefined()
    expect(topicLimitExceeded('a/b/c/d/e/f/g/h', 256, 8)).toBeUndefined()
    expect(topicLimitExceeded('a/b/c/d/e/f/g/h/i', 256, 8)).toBe('topic_depth')
    expect(topicLimitExceeded('////////', 256, 8)).toBe('topic_depth')
  })
})
