// The vocabulary of alarm rules: a rule is named parameters (what a rules file may override) and a
// build function turning them into triggers and a clear condition. Kinds list their default rules
// with these builders; the engine (broker/alarms/engine.ts) only evaluates CompiledRules.

export type Severity = 'critical' | 'major' | 'minor' | 'warning'

/** Higher is worse; an alarm's severity only moves up while it is open. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = Object.freeze({ warning: 1, minor: 2, major: 3, critical: 4 })

export type FieldValues = Readonly<Record<string, number | boolean>>

/** One accepted reading as rules see it: its time (ms, the reading's own `ts`) and its fields. */
export interface ReadingView {
  readonly tsMs: number
  readonly values: FieldValues
}

/** Recent values of fields a rule asked to remember (rate-of-change rules). */
export interface FieldHistory {
  /** Largest value of `field` at or after `sinceMs` (current reading included), if any. */
  max(field: string, sinceMs: number): number | undefined
}

export interface Trigger {
  readonly severity: Severity
  /** Does this reading meet the condition? A reading without the needed fields does not. */
  when(reading: ReadingView, history: FieldHistory): boolean
  /** The condition must hold over this span of reading time before the alarm is raised. */
  readonly forSec?: number
  /** …or over this many consecutive readings. */
  readonly forReadings?: number
  /** The measured value and the threshold it crossed, for the alarm message. */
  value(reading: ReadingView, history: FieldHistory): number
  threshold(reading: ReadingView): number
  /** Remembered at raise and handed to `clear` (e.g. the pressure before a drop). */
  capture?(reading: ReadingView, history: FieldHistory): Record<string, number>
}

export interface CompiledRule {
  readonly type: string
  /** A reading carrying none of these fields leaves the rule's state as it is. */
  readonly fields: readonly string[]
  /** How much history `FieldHistory` must keep for this rule, per field. */
  readonly historySec?: Readonly<Record<string, number>>
  readonly triggers: readonly Trigger[]
  /** May the open alarm clear on this reading? Default: no trigger condition holds. */
  clear?(reading: ReadingView, history: FieldHistory, captured: Readonly<Record<string, number>>): boolean
  /** The clear condition must hold this long (reading time) before the alarm clears. */
  readonly clearForSec?: number
  /** One human sentence for crews. */
  describe(severity: Severity, value: number, threshold: number): string
  /** The sentence when it clears (value: the clearing reading's). */
  describeClear?(value: number): string
}

export type RuleParams = Readonly<Record<string, number>>

export interface RuleDefinition<P extends RuleParams = RuleParams> {
  readonly type: string
  /** Where the default thresholds come from (a standard, a code of practice). */
  readonly source: string
  /** Every number a rules file may override, with its default. */
  readonly params: P
  build(params: P): CompiledRule
}

/** Erases the params type so rules of different shapes fit one list. */
export function defineRule<P extends RuleParams> (definition: RuleDefinition<P>): RuleDefinition {
  return Object.freeze(definition)
}

/** What every rule on one numeric field names: its type, the source of its defaults, the field and how to say it. */
interface FieldRuleSpec {
  type: string
  source: string
  field: string
  unit: string
  label: string
}

function numberOf (values: FieldValues, field: string): number | undefined {
  const value = values[field]
  return typeof value === 'number' ? value : undefined
}

function round (value: number): number {
  return Math.round(value * 1000) / 1000
}

/**
 * A numeric field against one or more thresholds (escalation: one level per severity) with a
 * separate clear threshold (hysteresis). `direction: 'above'` raises on value > level (or ≥ with
 * inclusive), clears on value < clear; 'below' mirrors it.
 */
export function threshold (spec: FieldRuleSpec & {
  direction: 'above' | 'below'
  inclusive?: boolean
  levels: Partial<Record<Severity, number>>
  /** Per-level hold time in seconds, by severity. */
  levelForSec?: Partial<Record<Severity, number>>
  clear: number
  forSec?: number
  clearForSec?: number
}): RuleDefinition {
  const params: Record<string, number> = { clear: spec.clear }
  for (const [severity, value] of Object.entries(spec.levels)) params[severity] = value
  for (const [severity, seconds] of Object.entries(spec.levelForSec ?? {})) params[`${severity}ForSec`] = seconds
  if (spec.forSec !== undefined) params.forSec = spec.forSec
  if (spec.clearForSec !== undefined) params.clearForSec = spec.clearForSec
  const isAbove = spec.direction === 'above'
  const crosses = (value: number, limit: number): boolean => isAbove
    ? (spec.inclusive === true ? value >= limit : value > limit)
    : (spec.inclusive === true ? value <= limit : value < limit)
  const comparison = isAbove ? (spec.inclusive === true ? 'at or above' : 'above') : (spec.inclusive === true ? 'at or below' : 'below')

  return defineRule({
    type: spec.type,
    source: spec.source,
    params,
    build (p) {
      const triggers: Trigger[] = []
      for (const severity of Object.keys(spec.levels) as Severity[]) {
        const limit = p[severity]
        if (limit === undefined) continue
        const forSec = p[`${severity}ForSec`] ?? p.forSec
        triggers.push({
          severity,
          threshold () { return limit },
          ...(forSec === undefined ? {} : { forSec }),
          when (r) {
            const value = numberOf(r.values, spec.field)
            return value !== undefined && crosses(value, limit)
          },
          value (r) { return numberOf(r.values, spec.field) ?? Number.NaN },
        })
      }
      const clearLimit = p.clear ?? spec.clear
      return {
        type: spec.type,
        fields: [spec.field],
        triggers,
        ...(p.clearForSec === undefined ? {} : { clearForSec: p.clearForSec }),
        clear (r) {
          const value = numberOf(r.values, spec.field)
          return value !== undefined && (isAbove ? value < clearLimit : value > clearLimit)
        },
        describe (severity, value, limit) {
          return `${spec.label} is ${round(value)} ${spec.unit}, ${comparison} the ${severity} threshold of ${limit} ${spec.unit}.`
        },
        describeClear (value) {
          return `${spec.label} is back to ${round(value)} ${spec.unit} (clear threshold ${clearLimit} ${spec.unit}).`
        },
      }
    },
  })
}

/** A numeric field outside [low, high]; clears back inside [clearLow, clearHigh]. */
export function outsideRange (spec: FieldRuleSpec & {
  severity: Severity
  low: number
  high: number
  clearLow?: number
  clearHigh?: number
}): RuleDefinition {
  return defineRule({
    type: spec.type,
    source: spec.source,
    params: { low: spec.low, high: spec.high, clearLow: spec.clearLow ?? spec.low, clearHigh: spec.clearHigh ?? spec.high },
    build (p) {
      const farther = (value: number): number => (value < p.low ? p.low : p.high)
      return {
        type: spec.type,
        fields: [spec.field],
        triggers: [{
          severity: spec.severity,
          threshold (r) { return farther(numberOf(r.values, spec.field) ?? p.low) },
          when (r) {
            const value = numberOf(r.values, spec.field)
            return value !== undefined && (value < p.low || value > p.high)
          },
          value (r) { return numberOf(r.values, spec.field) ?? Number.NaN },
        }],
        clear (r) {
          const value = numberOf(r.values, spec.field)
          return value !== undefined && value >= p.clearLow && value <= p.clearHigh
        },
        describe (_severity, value) {
          const unit = spec.unit === '' ? '' : ` ${spec.unit}`
          return `${spec.label} is ${round(value)}${unit}, outside the normal range ${p.low}–${p.high}${unit}.`
        },
        describeClear (value) {
          const unit = spec.unit === '' ? '' : ` ${spec.unit}`
          return `${spec.label} is back to ${round(value)}${unit}, inside ${p.clearLow}–${p.clearHigh}${unit}.`
        },
      }
    },
  })
}

/** A boolean the device reports (a door switch, its own failure flag): true raises, false clears. */
export function flag (spec: { type: string; source: string; field: string; severity: Severity; sentence: string; clearSentence: string }): RuleDefinition {
  return defineRule({
    type: spec.type,
    source: spec.source,
    params: {},
    build () {
      return {
        type: spec.type,
        fields: [spec.field],
        triggers: [{
          severity: spec.severity,
          threshold () { return 1 },
          when (r) { return r.values[spec.field] === true },
          value () { return 1 },
        }],
        clear (r) { return r.values[spec.field] === false },
        describe () { return spec.sentence },
        describeClear () { return spec.clearSentence },
      }
    },
  })
}

/**
 * A drop of at least `drop` within `withinSec` (reading time) below the highest value seen in that
 * window; clears once the value is back within `recoverPct` % of that earlier level.
 */
export function rateDrop (spec: FieldRuleSpec & {
  severity: Severity
  drop: number
  withinSec: number
  recoverPct: number
}): RuleDefinition {
  return defineRule({
    type: spec.type,
    source: spec.source,
    params: { drop: spec.drop, withinSec: spec.withinSec, recoverPct: spec.recoverPct },
    build (p) {
      const peak = (r: ReadingView, h: FieldHistory): number | undefined => h.max(spec.field, r.tsMs - p.withinSec * 1000)
      const fall = (r: ReadingView, h: FieldHistory): number => {
        const value = numberOf(r.values, spec.field)
        const before = peak(r, h)
        return value === undefined || before === undefined ? 0 : before - value
      }
      return {
        type: spec.type,
        fields: [spec.field],
        historySec: { [spec.field]: p.withinSec },
        triggers: [{
          severity: spec.severity,
          threshold () { return p.drop },
          when (r, h) { return numberOf(r.values, spec.field) !== undefined && fall(r, h) >= p.drop },
          value (r, h) { return fall(r, h) },
          capture (r, h) { return { before: peak(r, h) ?? Number.NaN } },
        }],
        clear (r, _h, captured) {
          const value = numberOf(r.values, spec.field)
          const before = captured.before
          return value !== undefined && before !== undefined && value >= before * (1 - p.recoverPct / 100)
        },
        describe (_severity, value, limit) {
          return `${spec.label} fell by ${round(value)} ${spec.unit} within ${p.withinSec / 60} min (alarm at a fall of ${limit} ${spec.unit}).`
        },
        describeClear () {
          return `${spec.label} has recovered to within ${p.recoverPct} % of its level before the fall.`
        },
      }
    },
  })
}

/** Battery below 20 % (warning), clear above 25 %: for every kind with a `battery` field. */
export const batteryLow = threshold({
  type: 'batteryLow',
  source: 'common practice for primary-cell field sensors: ~20 % leaves weeks to replace',
  field: 'battery',
  unit: '%',
  label: 'Battery',
  direction: 'below',
  levels: { warning: 20 },
  clear: 25,
})

/** Missing data: no reading for `missedIntervals` × the device's expected interval. */
export const DEVICE_OFFLINE = Object.freeze({
  type: 'deviceOffline',
  severity: 'major',
  params: Object.freeze({ missedIntervals: 3 }),
})
