// Abuse limits that need memory of past events: open connections (total, per IP), failed logins
// (per IP, per username: backoff, then lockout), and a log throttle (once per offender and period).
// Every table is bounded: the oldest entries are evicted, so a spray of addresses cannot grow it.

/** Most offenders each table remembers; beyond it the oldest entry is forgotten. */
export const MAX_TRACKED_KEYS = 50_000

/** Names remembered with the address they last logged in from (only registered names get here). */
const MAX_KNOWN_GOOD = 1_000_000

export type ConnectionVerdict = 'ok' | 'connections' | 'connections_per_ip'

export interface ConnectionLimiter {
  /** Counts a new connection from `ip`, or says which limit refuses it (then nothing is counted). */
  admit(ip: string): ConnectionVerdict
  /** The connection admitted for `ip` closed. */
  release(ip: string): void
  readonly open: number
}

export function createConnectionLimiter (options: { maxTotal: number; maxPerIp: number }): ConnectionLimiter {
  const perIp = new Map<string, number>()
  let open = 0
  return {
    admit (ip) {
      if (open >= options.maxTotal) return 'connections'
      const current = perIp.get(ip) ?? 0
      if (current >= options.maxPerIp) return 'connections_per_ip'
      perIp.set(ip, current + 1)
      open++
      return 'ok'
    },
    release (ip) {
      const current = perIp.get(ip)
      if (current === undefined) return
      open--
      if (current <= 1) perIp.delete(ip)
      else perIp.set(ip, current - 1)
    },
    get open () { return open },
  }
}

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
      remember(table, key, record)
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

/** Sets `key` in a table of at most `max` entries, forgetting the oldest entry when it is full. */
export function remember<V> (table: Map<string, V>, key: string, value: V, max = MAX_TRACKED_KEYS): void {
  if (!table.has(key) && table.size >= max) {
    const oldest = table.keys().next()
    if (oldest.done !== true) table.delete(oldest.value)
  }
  table.set(key, value)
}

export interface LogThrottle {
  /**
   * Whether to log an event of `key` now: at most once per period. Returns the number of events
   * suppressed since the last logged one (0 or more), or undefined when this one is suppressed.
   */
  take(key: string): number | undefined
}

export function createLogThrottle (periodMs: number, now: () => number = Date.now): LogThrottle {
  const last = new Map<string, { atMs: number; suppressed: number }>()
  return {
    take (key) {
      const nowMs = now()
      const entry = last.get(key)
      if (entry !== undefined && nowMs - entry.atMs < periodMs) {
        entry.suppressed++
        return undefined
      }
      last.delete(key)
      remember(last, key, { atMs: nowMs, suppressed: 0 })
      return entry?.suppressed ?? 0
    },
  }
}
