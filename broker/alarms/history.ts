// Recent values of the fields rate-of-change rules look back on, per device: bounded by the
// longest window a rule in force asks for, so memory stays constant per device.
import type { CompiledRule, FieldHistory, ReadingView } from '../../devices/define-rule.ts'

export interface History extends FieldHistory {
  /** Adds the reading's values of remembered fields and forgets what no rule looks back on. */
  record(reading: ReadingView, rules: readonly CompiledRule[]): void
}

export function createHistory (): History {
  const samples = new Map<string, { tsMs: number; value: number }[]>()
  return {
    record (reading, rules) {
      // Per field, the longest window any rule in force looks back on.
      const windows = new Map<string, number>()
      for (const rule of rules) {
        for (const [field, seconds] of Object.entries(rule.historySec ?? {})) windows.set(field, Math.max(seconds, windows.get(field) ?? 0))
      }
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
