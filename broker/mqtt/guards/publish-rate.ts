// Per-device (and per-crew) publish rate: a token bucket per name, refilled continuously. A publish
// beyond the bucket is not dropped but paced: it borrows a future token and waits for it, so a
// device above its rate gets its PUBACKs later (and, since Aedes reads a client's next packets only
// once the current ones are handled, sends more slowly). Borrowing is bounded by `maxDelayMs`;
// beyond it the publish is refused. O(1) per call, no timers; buckets exist only for authenticated
// names, so the table is bounded by the registry.

export interface RateLimiterOptions {
  /** Sustained rate, tokens per second. */
  ratePerSec: number
  /** Bucket size: how many publishes may arrive at once after a quiet period. */
  burst: number
  /** Longest wait a publish may be given before it is refused instead. */
  maxDelayMs: number
  now?: () => number
}

export interface RateLimiter {
  /**
   * Takes one token for `name`: 0 when one was there, else how long (ms) the publish must wait for
   * the token it borrowed, or undefined when that wait would exceed `maxDelayMs` (nothing taken).
   */
  reserve(name: string): number | undefined
  forget(name: string): void
}

interface Bucket { tokens: number; updatedMs: number }

export function createRateLimiter (options: RateLimiterOptions): RateLimiter {
  const now = options.now ?? Date.now
  const perMs = options.ratePerSec / 1000
  // Tokens may go negative by what refills within maxDelayMs: that debt is what waiting publishes hold.
  const maxDebt = options.maxDelayMs * perMs
  const buckets = new Map<string, Bucket>()
  return {
    reserve (name) {
      const nowMs = now()
      let bucket = buckets.get(name)
      if (bucket === undefined) {
        bucket = { tokens: options.burst, updatedMs: nowMs }
        buckets.set(name, bucket)
      } else {
        bucket.tokens = Math.min(options.burst, bucket.tokens + (nowMs - bucket.updatedMs) * perMs)
        bucket.updatedMs = nowMs
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return 0
      }
      const after = bucket.tokens - 1
      if (-after > maxDebt) return undefined
      bucket.tokens = after
      // The token this publish borrowed exists once the balance is back at zero.
      return Math.ceil(-after / perMs)
    },
    forget (name) { buckets.delete(name) },
  }
}
