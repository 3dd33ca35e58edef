// Failed logins: backoff, lockout, and the known-good address of a username.
import { describe, expect, it } from 'vitest'
import { createLoginGuard } from '../../../../broker/mqtt/guards/login-guard.ts'
import { clock } from '../../../helpers/clock.ts'

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
