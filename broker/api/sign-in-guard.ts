// Failed API sign-ins, counted per account and client address (names that are no account share one
// count per address) in a window that starts with the first failure. Only failures are counted, and
// only wrong secrets are refused beyond the limit: a guesser cannot lock a crew out of its own account.
import { remember } from '../bounded-table.ts'

export interface SignInGuardOptions {
  /** Failures per key within the window that are still answered 401; further ones get 429. */
  maxFailures: number
  windowMs: number
  /** Whether a name is a crew or operator; other names share one key per address. */
  isAccount(name: string): boolean
  /** Most keys remembered; beyond it the oldest is forgotten. */
  maxTracked: number
  now?: () => number
}

export interface FailureVerdict {
  /** Who is counted: `<name> <address>`, or `? <address>` for names that are no account. */
  readonly key: string
  /** Set when this failure is beyond the limit: seconds until the window ends (at least 1). */
  readonly retryAfterSec: number | undefined
}

export interface SignInGuard {
  /** Counts a failed sign-in of `name` from `ip`. */
  failed(name: string, ip: string): FailureVerdict
}

interface Window { startMs: number; failures: number }

export function createSignInGuard (options: SignInGuardOptions): SignInGuard {
  const now = options.now ?? Date.now
  const { maxTracked } = options
  const windows = new Map<string, Window>()

  return {
    failed (name, ip) {
      // A space cannot occur in an account name, so the two kinds of key never collide.
      const key = options.isAccount(name) ? `${name} ${ip}` : `? ${ip}`
      const nowMs = now()
      let window = windows.get(key)
      if (window === undefined || nowMs - window.startMs >= options.windowMs) {
        window = { startMs: nowMs, failures: 0 }
        windows.delete(key)
        remember(windows, key, window, maxTracked)
      }
      window.failures++
      if (window.failures <= options.maxFailures) return { key, retryAfterSec: undefined }
      return { key, retryAfterSec: Math.max(1, Math.ceil((window.startMs + options.windowMs - nowMs) / 1000)) }
    },
  }
}
