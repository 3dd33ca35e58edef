// Per key, times that strictly increase: a candidate not after the key's last time becomes the last
// time + 1 ms. InfluxDB keeps one point per series and time, so two events of one series in the same
// millisecond would otherwise collapse into one point.

export interface IncreasingClock {
  /** `candidateMs`, or the key's last time + 1 when that is not earlier; remembered as the key's last time. */
  next(key: string, candidateMs: number): number
  /** Drops the key's last time (its next candidate is taken as it is). */
  forget(key: string): void
}

export function createIncreasingClock (): IncreasingClock {
  // A box per key, updated in place: a Map of epoch-ms numbers would allocate a heap number per set.
  const lastMs = new Map<string, { ms: number }>()
  return {
    next (key, candidateMs) {
      const previous = lastMs.get(key)
      if (previous === undefined) {
        lastMs.set(key, { ms: candidateMs })
        return candidateMs
      }
      const ts = candidateMs <= previous.ms ? previous.ms + 1 : candidateMs
      previous.ms = ts
      return ts
    },
    forget (key) { lastMs.delete(key) },
  }
}
