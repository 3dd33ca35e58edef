// At most one log line per offender and period, with the number held back since the last one:
// a flood of refusals must not become a flood of log lines. Bounded like every offender table.
import { MAX_TRACKED_KEYS, remember } from './bounded-table.ts'

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
      remember(last, key, { atMs: nowMs, suppressed: 0 }, MAX_TRACKED_KEYS)
      return entry?.suppressed ?? 0
    },
  }
}
