// Per-device (and per-crew) publish rate: a token bucket per name, refilled continuously.
// `take` answers in O(1) without timers; buckets exist only for authenticated names, so the
// table is bounded by the registry.

export interface RateLimiterOptions {
  /** Sustained rate, tokens per second. */
  ratePerSec: number
  /** Bucket size: how many publishes may arrive at once after a quiet period. */
  burst: number
  now?: () => number
}

export interface RateLimiter {
  /** Takes one token for `name`; false when its bucket is empty (the publish exceeds the rate). */
  take(name: string): boolean
  forget(name: string): void
}

interface Bucket { tokens: number; updatedMs: number }

export function createRateLimiter (options: RateLimiterOptions): RateLimiter {
  const now = options.now ?? Date.now
  const perMs = options.ratePerSec / 1000
  const buckets = new Map<string, Bucket>()
  return {
    take (name) {
      const nowMs = now()
      let bucket = buckets.get(name)
      if (bucket === undefined) {
        bucket = { tokens: options.burst, updatedMs: nowMs }
        buckets.set(name, bucket)
      } else {
        bucket.tokens = Math.min(options.burst, bucket.tokens + (nowMs - bucket.updatedMs) * perMs)
        bucket.updatedMs = nowMs
      }
      if (bucket.tokens < 1) return false
      bucket.tokens -= 1
      return true
    },
    forget (name) { buckets.delete(name) },
  }
}
