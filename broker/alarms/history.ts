// Recent values of the fields rate-of-change rules look back on, per device: bounded by the
// longest window a rule in force asks for, so memory stays constant per device.
import type { CompiledRule, FieldHistory, ReadingView } from '../../devices/define-rule.ts'

export interface History extends FieldHistory {
  /** Adds the reading's values of remembered fields and forgets what no rule looks back on. */
  record(reading: ReadingView, rules: readonly CompiledRule[]): void
}

/** Per field, the longest window any rule of a rule set looks back on; computed once per rule set. */
const windowsOfRules = new WeakMap<readonly CompiledRule[], ReadonlyMap<string, number>>()

function windowsOf (rules: readonly CompiledRule[]): ReadonlyMap<string, number> {
  let windows = windowsOfRules.get(rules)
  if (windows === undefined) {
    const longest = new Map<string, number>()
    for (const rule of rules) {
      for (const [field, seconds] of Object.entries(rule.historySec ?? {})) longest.set(field, Math.max(seconds, longest.get(field) ?? 0))
    }
    windows = longest
    windowsOfRules.set(rules, windows)
  }
  return windows
}

/**
 * One field's samples as a monotonic queue: timestamps rising, values strictly falling from the
 * front. A sample with a later, larger-or-equal value can never be a window's maximum again, so
 * it is dropped; the maximum of any window ending now is the first sample inside it. O(1)
 * amortised per reading, where a plain list cost a scan of the whole window per reading (a device
 * reporting 20 times a second kept 6,000 samples for a 5 min rate rule, measured in `npm run bench`).
 */
interface Series {
  readonly tsMs: number[]
  readonly values: number[]
  /** Index of the first live sample; the arrays are compacted once half of them is dead. */
  head: number
  /** The last recorded reading time, so a reading is recorded once. */
  lastTsMs: number
}

export function createHistory (): History {
  const series = new Map<string, Series>()
  return {
    record (reading, rules) {
      const windows = windowsOf(rules)
      if (windows.size === 0 && series.size === 0) return
      for (const [field, seconds] of windows) {
        const value = reading.values[field]
        if (typeof value !== 'number') continue
        let s = series.get(field)
        if (s === undefined) {
          s = { tsMs: [], values: [], head: 0, lastTsMs: Number.NaN }
          series.set(field, s)
        }
        if (s.lastTsMs === reading.tsMs) continue
        s.lastTsMs = reading.tsMs
        while (s.values.length > s.head && s.values[s.values.length - 1]! <= value) {
          s.values.pop()
          s.tsMs.pop()
        }
        s.values.push(value)
        s.tsMs.push(reading.tsMs)
        const oldest = reading.tsMs - seconds * 1000
        while (s.head < s.tsMs.length && s.tsMs[s.head]! < oldest) s.head++
        if (s.head > 64 && s.head * 2 > s.tsMs.length) {
          s.tsMs.splice(0, s.head)
          s.values.splice(0, s.head)
          s.head = 0
        }
      }
    },
    max (field, sinceMs) {
      const s = series.get(field)
      if (s === undefined) return undefined
      for (let i = s.head; i < s.tsMs.length; i++) {
        if (s.tsMs[i]! >= sinceMs) return s.values[i]
      }
      return undefined
    },
  }
}
