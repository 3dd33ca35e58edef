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

export function createHistory (): History {
  const samples = new Map<string, { tsMs: number; value: number }[]>()
  return {
    record (reading, rules) {
      const windows = windowsOf(rules)
      if (windows.size === 0 && samples.size === 0) return
      for (const [field, seconds] of windows) {
        const value = reading.values[field]
        if (typeof value !== 'number') continue
        let list = samples.get(field)
        if (list === undefined) {
          list = []
          samples.set(field, list)
        }
        if (list.at(-1)?.tsMs !== reading.tsMs) list.push({ tsMs: reading.tsMs, value })
        const oldest = reading.tsMs - seconds * 1000
        while (list.length > 0 && list[0]!.tsMs < oldest) list.shift()
      }
    },
    max (field, sinceMs) {
      let best: number | undefined
      for (const sample of samples.get(field) ?? []) {
        if (sample.tsMs >= sinceMs && (best === undefined || sample.value > best)) best = sample.value
      }
      return best
    },
  }
}
