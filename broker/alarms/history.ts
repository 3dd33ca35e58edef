// What rules may know about a device beyond its current reading, per device and bounded: recent
// values of the fields rate-of-change rules look back on (the longest window a rule in force asks
// for), the run of one identical value of fields stuck-sensor rules follow, and samples of the
// device's clock against the gateway's. Memory stays constant per device; nothing is allocated per
// reading once a device's fields have been seen.
import type { CompiledRule, FieldHistory, ReadingView } from '../../devices/define-rule.ts'

export interface History extends FieldHistory {
  /** Adds the reading's values of remembered fields and forgets what no rule looks back on. */
  record(reading: ReadingView, rules: readonly CompiledRule[]): void
  /** Before the readings of one message: the gateway's clock at its receipt and the newest `ts` in it. */
  noteMessage(receivedMs: number, newestTsMs: number): void
}

/** What a rule set asks the history to keep; computed once per rule set. */
interface Plan {
  /** Per field, the longest window any rule looks back on. */
  readonly windows: ReadonlyMap<string, number>
  /** Fields whose runs of one value are followed. */
  readonly runFields: readonly string[]
  /** Shortest `clockSampleSec` of the rules, in ms; NaN: the clock is not sampled. */
  readonly clockSampleMs: number
}

const plansOfRules = new WeakMap<readonly CompiledRule[], Plan>()

function planOf (rules: readonly CompiledRule[]): Plan {
  let plan = plansOfRules.get(rules)
  if (plan === undefined) {
    const longest = new Map<string, number>()
    const runFields = new Set<string>()
    let clockSampleMs = Number.NaN
    for (const rule of rules) {
      for (const [field, seconds] of Object.entries(rule.historySec ?? {})) longest.set(field, Math.max(seconds, longest.get(field) ?? 0))
      for (const field of rule.tracksRuns ?? []) runFields.add(field)
      if (rule.clockSampleSec !== undefined) {
        const ms = rule.clockSampleSec * 1000
        clockSampleMs = Number.isNaN(clockSampleMs) ? ms : Math.min(clockSampleMs, ms)
      }
    }
    plan = { windows: longest, runFields: [...runFields], clockSampleMs }
    plansOfRules.set(rules, plan)
  }
  return plan
}

/** A field's run, changed in place: one object per followed field and device, none per reading. */
interface Run {
  value: number
  count: number
  sinceMs: number
  lastMs: number
}

/** The latest clock sample, changed in place. */
interface Clock {
  tsMs: number
  skewMs: number
  tsStepMs: number
  receivedStepMs: number
  /** The gateway's clock at its receipt. */
  receivedMs: number
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
  const runs = new Map<string, Run>()
  const clock: Clock = { tsMs: Number.NaN, skewMs: Number.NaN, tsStepMs: Number.NaN, receivedStepMs: Number.NaN, receivedMs: Number.NaN }
  let messageReceivedMs = Number.NaN
  let messageNewestTsMs = Number.NaN

  function recordRuns (reading: ReadingView, runFields: readonly string[]): void {
    for (let i = 0; i < runFields.length; i++) {
      const field = runFields[i]!
      const value = reading.values[field]
      if (typeof value !== 'number') continue
      let run = runs.get(field)
      if (run === undefined) {
        run = { value, count: 0, sinceMs: reading.tsMs, lastMs: reading.tsMs }
        runs.set(field, run)
      }
      if (run.count > 0 && run.value === value) {
        run.count++
      } else {
        run.value = value
        run.count = 1
        run.sinceMs = reading.tsMs
      }
      run.lastMs = reading.tsMs
    }
  }

  /** Only the newest reading of a message looks at the clock: older ones of a batch were buffered on purpose. */
  function sampleClock (reading: ReadingView, minStepMs: number): void {
    if (reading.tsGiven !== true || reading.tsMs !== messageNewestTsMs) return
    const isFirst = Number.isNaN(clock.tsMs)
    if (!isFirst && reading.tsMs - clock.tsMs < minStepMs) return
    clock.tsStepMs = isFirst ? Number.NaN : reading.tsMs - clock.tsMs
    clock.receivedStepMs = isFirst ? Number.NaN : messageReceivedMs - clock.receivedMs
    clock.tsMs = reading.tsMs
    clock.receivedMs = messageReceivedMs
    clock.skewMs = reading.tsMs - messageReceivedMs
  }

  return {
    clock,
    noteMessage (receivedMs, newestTsMs) {
      messageReceivedMs = receivedMs
      messageNewestTsMs = newestTsMs
    },
    record (reading, rules) {
      const { windows, runFields, clockSampleMs } = planOf(rules)
      if (runFields.length > 0) recordRuns(reading, runFields)
      if (!Number.isNaN(clockSampleMs)) sampleClock(reading, clockSampleMs)
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
    run (field) {
      return runs.get(field)
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
