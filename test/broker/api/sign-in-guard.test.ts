// The failed-sign-in count: per account and address, one shared count per address for names that are
// no account, a window that starts with the first failure, a bounded table.
import { MAX_TRACKED_KEYS } from '../../../broker/bounded-table.ts'
import { describe, expect, it } from 'vitest'
import { createSignInGuard } from '../../../broker/api/sign-in-guard.ts'

const accounts = new Set(['crew-a', 'crew-b'])

function guard (clock: { ms: number }, maxTracked?: number) {
  return createSignInGuard({ maxFailures: 3, windowMs: 60_000, isAccount: (name) => accounts.has(name), now: () => clock.ms, maxTracked: maxTracked ?? MAX_TRACKED_KEYS })
}

describe('sign-in guard', () => {
  it('answers the failures beyond the limit with the seconds left in the window', () => {
    const clock = { ms: 0 }
    const g = guard(clock)
    expect([1, 2, 3].map(() => g.failed('crew-a', '10.0.0.1').retryAfterSec)).toEqual([undefined, undefined, undefined])
    clock.ms = 20_500
    expect(g.failed('crew-a', '10.0.0.1')).toEqual({ key: 'crew-a 10.0.0.1', retryAfterSec: 40 })
    clock.ms = 60_000
    expect(g.failed('crew-a', '10.0.0.1').retryAfterSec).toBeUndefined() // a new window
  })

  it('counts each account and address apart, and names that are no account together per address', () => {
    const clock = { ms: 0 }
    const g = guard(clock)
    for (let i = 0; i < 5; i++) g.failed('crew-a', '10.0.0.1')
    expect(g.failed('crew-a', '10.0.0.1').retryAfterSec).toBe(60)
    expect(g.failed('crew-b', '10.0.0.1').retryAfterSec).toBeUndefined()
    expect(g.failed('crew-a', '10.0.0.2').retryAfterSec).toBeUndefined()
    const sprayed = ['x1', 'x2', 'x3', 'x4'].map((name) => g.failed(name, '10.0.0.1'))
    expect(sprayed.map((v) => v.key)).toEqual(Array(4).fill('? 10.0.0.1'))
    expect(sprayed.map((v) => v.retryAfterSec)).toEqual([undefined, undefined, undefined, 60])
    expect(g.failed('x5', '10.0.0.3').retryAfterSec).toBeUndefined()
  })

  it('forgets the oldest key when its table is full', () => {
    const clock = { ms: 0 }
    const g = guard(clock, 2)
    for (let i = 0; i < 4; i++) g.failed('crew-a', '10.0.0.1')
    g.failed('crew-a', '10.0.0.2')
    g.failed('crew-a', '10.0.0.3') // evicts 10.0.0.1
    expect(g.failed('crew-a', '10.0.0.1').retryAfterSec).toBeUndefined()
  })
})
