// Failed logins per address and per username: refusals are delayed (backoff), then refused outright
// (lockout), except for a username at the address it last logged in from. Tables are bounded.
import { MAX_TRACKED_KEYS, remember } from '../../bounded-table.ts'

/** Names remembered with the address they last logged in from (only registered names get here). */
const MAX_KNOWN_GOOD = 1_000_000

export interface LoginGuardOptions {
  /** Failures within the window before refusals are delayed. */
  backoffAfter: number
  /** Failures within the window before the key is locked out. */
  lockoutAfter: number
  windowMs: number
  lockoutMs: number
  /** Longest delay of one refusal; the delay doubles from 1 s. */
  backoffMaxMs: number
  now?: () => number
}

/** Why a CONNECT is refused before its credentials are looked at. */
export type Lockout = { scope: 'ip' | 'username'; untilMs: number }

export interface FailureOutcome {
  /** Hold the refusal this long (ms) before sending it. */
  delayMs: number
  /** Scopes that entered backoff or lockout with this failure (for a single log line). */
  backoffStarted: ('ip' | 'username')[]
  lockoutStarted: ('ip' | 'username')[]
}

export interface LoginGuard {
  /** A lockout that refuses this attempt now, if any; never for a username from the IP it last succeeded from. */
  lockedOut(ip: string, username: string | undefined): Lockout | undefined
  failed(ip: string, username: string | undefined): FailureOutcome
  succeeded(ip: string, username: string): void
}

interface FailureRecord { windowStartMs: number; failures: number; lockedUntilMs: number }

/**
 * Failed-login bookkeeping. A single client retrying in sequence is slowed by the backoff and, with
 * the defaults, cannot reach the lockout threshold; only parallel attempts can (NAT-friendly).
 */
export function createLoginGuard (options: LoginGuardOptions): LoginGuard {
  const now = options.now ?? Date.now
  const byIp = new Map<string, FailureRecord>()
  const byUser = new Map<string, FailureRecord>()
  const lastGoodIp = new Map<string, string>()

  function active (table: Map<string, FailureRecord>, key: string, nowMs: number): FailureRecord | undefined {
    const record = table.get(key)
    if (record === undefined) return undefined
    if (record.lockedUntilMs <= nowMs && nowMs - record.windowStartMs > options.windowMs) {
      table.delete(key)
      return undefined
    }
    return record
  }

  function count (table: Map<string, FailureRecord>, key: string, nowMs: number): { record: FailureRecord; backoff: boolean; lockout: boolean } {
    let record = active(table, key, nowMs)
    if (record === undefined || (record.lockedUntilMs <= nowMs && nowMs - record.windowStartMs > options.windowMs)) {
      record = { windowStartMs: nowMs, failures: 0, lockedUntilMs: 0 }
      remember(table, key, record, MAX_TRACKED_KEYS)
    }
    record.failures++
    const backoff = record.failures === options.backoffAfter + 1
    let lockout = false
    if (record.failures >= options.lockoutAfter && record.lockedUntilMs <= nowMs) {
      record.lockedUntilMs = nowMs + options.lockoutMs
      // A new window starts with the lockout, so failures during it do not extend it forever.
      record.windowStartMs = nowMs
      record.failures = 0
      lockout = true
    }
    return { record, backoff, lockout }
  }

  function delayFor (failures: number): number {
    const over = failures - options.backoffAfter
    if (over <= 0) return 0
    return Math.min(options.backoffMaxMs, 1000 * 2 ** Math.min(over - 1, 20))
  }

  return {
    lockedOut (ip, username) {
      // A username that last logged in successfully from this very address is never locked out: the
      // devices behind one NAT (a private APN) keep working while a few of them, or an attacker, fail.
      if (username !== undefined && lastGoodIp.get(username) === ip) return undefined
      const nowMs = now()
      const ipRecord = active(byIp, ip, nowMs)
      if (ipRecord !== undefined && ipRecord.lockedUntilMs > nowMs) return { scope: 'ip', untilMs: ipRecord.lockedUntilMs }
      if (username === undefined) return undefined
      const userRecord = active(byUser, username, nowMs)
      if (userRecord !== undefined && userRecord.lockedUntilMs > nowMs) return { scope: 'username', untilMs: userRecord.lockedUntilMs }
      return undefined
    },
    failed (ip, username) {
      const nowMs = now()
      const outcome: FailureOutcome = { delayMs: 0, backoffStarted: [], lockoutStarted: [] }
      const scopes: ['ip' | 'username', Map<string, FailureRecord>, string | undefined][] = [['ip', byIp, ip], ['username', byUser, username]]
      for (const [scope, table, key] of scopes) {
        if (key === undefined) continue
        const { record, backoff, lockout } = count(table, key, nowMs)
        if (backoff) outcome.backoffStarted.push(scope)
        if (lockout) outcome.lockoutStarted.push(scope)
        outcome.delayMs = Math.max(outcome.delayMs, delayFor(record.failures))
      }
      return outcome
    },
    succeeded (ip, username) {
      lastGoodIp.delete(username)
      remember(lastGoodIp, username, ip, MAX_KNOWN_GOOD)
    },
  }
}
