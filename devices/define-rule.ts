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
  /** Whether `tsMs` is the device's own `ts` (absent or false: the time of receipt). */
  readonly tsGiven?: boolean
}

/** The current run of one identical value of a field, up to the current reading. */
export interface FieldRun {
  readonly value: number
  /** Readings in a row that carried exactly this value (0: no run, the field is not followed yet). */
  readonly count: number
  /** Reading time of the first and of the latest of them. */
  readonly sinceMs: number
  readonly lastMs: number
}

/**
 * The device's clock seen against the gateway's, sampled on the newest reading of a message that
 * carries its own `ts`, at most once per `clockSampleSec` of that `ts` (a burst is one look at it).
 */
export interface ClockSample {
  /** The sampled reading's `ts`: the current reading is a sample when its `tsMs` is this. */
  readonly tsMs: number
  /** Its `ts` minus the gateway's clock at receipt (negative: the device is behind). */
  readonly skewMs: number
  /** How far `ts` and the receipt time moved since the previous sample; NaN for the first one. */
  readonly tsStepMs: number
  readonly receivedStepMs: number
}

/** What rules may know besides the current reading: recent values, runs of one value, the device's clock. */
export interface FieldHistory {
  /** Largest value of `field` at or after `sinceMs` (current reading included), if any. */
  max(field: string, sinceMs: number): number | undefined
  /** The run of identical values `field` is in, for a field a rule in force `tracksRuns` of. */
  run(field: string): FieldRun | undefined
  /** The latest clock sample (`tsMs` NaN before the first one), when a rule in force asks for `clockSampleSec`. */
  readonly clock: ClockSample
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
  /** Replaces the `fields` test: does the rule judge this reading at all? One it does not leaves its state as it is. */
  takes?(reading: ReadingView, history: FieldHistory): boolean
  /** How much history `FieldHistory` must keep for this rule, per field. */
  readonly historySec?: Readonly<Record<string, number>>
  /** Fields whose runs of one identical value `FieldHistory.run` must follow. */
  readonly tracksRuns?: readonly string[]
  /** `FieldHistory.clock` samples the device's clock at most once per this many seconds of its `ts`. */
  readonly clockSampleSec?: number
  readonly triggers: readonly Trigger[]
  /** May the open alarm clear on this reading? Default: no trigger condition holds. */
  clear?(reading: ReadingView, history: FieldHistory, captured: Readonly<Record<string, number>>): boolean
  /** The clear condition must hold this long (reading time) before the alarm clears. */
  readonly clearForSec?: number
  /** …and over this many consecutive readings the rule judges. */
  readonly clearForReadings?: number
  /** The value on the cleared alarm. Default: the first trigger's value of the clearing reading. */
  clearValue?(reading: ReadingView, history: FieldHistory, captured: Readonly<Record<string, number>>): number
  /** One human sentence for crews (captured: what the trigger's `capture` remembered at raise). */
  describe(severity: Severity, value: number, threshold: number, captured: Readonly<Record<string, number>>): string
  /** The sentence when it clears (value: the clearing reading's, or `clearValue`). */
  describeClear?(value: number, captured: Readonly<Record<string, number>>): string
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

/** What a kind's field schema offers a rule: its metadata (`.meta()` of zod). */
interface FieldSchemaWithMeta { meta(): Readonly<Record<string, unknown>> | undefined }

interface VaryingField { readonly name: string; readonly label: string; readonly unit: string }

/** `coverAngle` → "Cover angle" (the API spells field names out the same way). */
function spelledOut (name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** The fields of a kind marked `varies: true` in their metadata, in the kind's order. */
export function varyingFields (fields: Readonly<Record<string, FieldSchemaWithMeta>>): VaryingField[] {
  const varying: VaryingField[] = []
  for (const [name, schema] of Object.entries(fields)) {
    const meta = schema.meta() ?? {}
    if (meta.varies !== true) continue
    varying.push({ name, label: typeof meta.label === 'string' ? meta.label : spelledOut(name), unit: typeof meta.unit === 'string' && meta.unit !== '1' ? meta.unit : '' })
  }
  return varying
}

function formatSeconds (seconds: number): string {
  const abs = Math.abs(seconds)
  if (abs >= 7200) return `${Math.round(abs / 360) / 10} h`
  if (abs >= 120) return `${Math.round(abs / 6) / 10} min`
  return `${Math.round(abs)} s`
}

/**
 * A sensor that keeps reporting exactly the same value of a field that normally varies (the
 * field's `varies: true` marker) is frozen, disconnected or reads a stuck register. Raised when a
 * marked field has had one value for `readings` readings in a row spanning at least `minSpanSec`
 * (a burst of readings within seconds says nothing), or for `forSec` of reading time. Zero is a
 * value a field may rest at (no flow, a dry shaft) and never counts. Clears when that field's
 * value changes. Value: the repeated value; threshold: `readings`.
 */
export function stuckSensor (fields: Readonly<Record<string, FieldSchemaWithMeta>>): RuleDefinition {
  const varying = varyingFields(fields)
  if (varying.length === 0) throw new TypeError('stuckSensor: no field is marked varies: true')
  return defineRule({
    type: 'stuckSensor',
    source: 'data-quality practice: a live sensor\'s analogue reading changes in its last digit; 20 identical readings (6 h at most) mean a frozen sensor',
    params: { readings: 20, minSpanSec: 600, forSec: 21_600 },
    build (p) {
      const names = varying.map(function nameOf (f) { return f.name })
      const readingsLimit = p.readings
      const minSpanMs = p.minSpanSec * 1000
      const forMs = p.forSec * 1000
      function isStuck (h: FieldHistory, field: string): boolean {
        const run = h.run(field)
        if (run === undefined || run.count === 0 || run.value === 0) return false
        const spanMs = run.lastMs - run.sinceMs
        return (run.count >= readingsLimit && spanMs >= minSpanMs) || (run.count > 1 && spanMs >= forMs)
      }
      /** Index of the first stuck field, or -1. */
      function firstStuck (h: FieldHistory): number {
        for (let i = 0; i < names.length; i++) if (isStuck(h, names[i]!)) return i
        return -1
      }
      return {
        type: 'stuckSensor',
        fields: names,
        tracksRuns: names,
        triggers: [{
          severity: 'warning',
          when (_r, h) { return firstStuck(h) >= 0 },
          value (_r, h) {
            const index = firstStuck(h)
            return index < 0 ? Number.NaN : h.run(names[index]!)?.value ?? Number.NaN
          },
          threshold () { return readingsLimit },
          // All finite: what is captured is kept as JSON with the open alarm.
          capture (_r, h) {
            const index = firstStuck(h)
            const run = index < 0 ? undefined : h.run(names[index]!)
            if (run === undefined) return {}
            let others = 0
            for (let i = index + 1; i < names.length; i++) if (isStuck(h, names[i]!)) others++
            return { field: index, value: run.value, sinceMs: run.sinceMs, readings: run.count, others }
          },
        }],
        // The stuck field reports another value. Not "no longer stuck": after a restart its run
        // starts again from one reading, while the sensor may still be stuck.
        clear (_r, h, captured) {
          const field = names[captured.field ?? -1]
          if (field === undefined || captured.value === undefined) return firstStuck(h) < 0
          const run = h.run(field)
          return run !== undefined && run.count > 0 && run.value !== captured.value
        },
        clearValue (r, h, captured) {
          const field = names[captured.field ?? -1]
          const value = field === undefined ? undefined : r.values[field]
          return typeof value === 'number' ? value : (field === undefined ? undefined : h.run(field)?.value) ?? Number.NaN
        },
        describe (_severity, value, _limit, captured) {
          const field = varying[captured.field ?? -1]
          if (field === undefined) return `A sensor has reported the same value ${round(value)} for too long: it may be stuck.`
          const unit = field.unit === '' ? '' : ` ${field.unit}`
          const since = captured.sinceMs === undefined ? 'its first reading' : new Date(captured.sinceMs).toISOString()
          const others = captured.others ?? 0
          const alsoStuck = others === 0 ? '' : ` (${others} other field${others === 1 ? '' : 's'} ${others === 1 ? 'has' : 'have'} not changed either)`
          return `${field.label} has reported exactly ${round(value)}${unit} in ${captured.readings ?? 0} readings in a row since ${since}${alsoStuck}: the sensor may be stuck.`
        },
        describeClear (value, captured) {
          const field = varying[captured.field ?? -1]
          if (field === undefined) return 'The sensor reports changing values again.'
          const unit = field.unit === '' ? '' : ` ${field.unit}`
          return `${field.label} changes again (now ${round(value)}${unit}).`
        },
      }
    },
  })
}

/**
 * The device's clock is wrong: its `ts` differs from the gateway's clock at receipt by more than
 * `maxSkewSec` on `readings` clock samples in a row; clears after `clearReadings` samples within
 * it. Readings without their own `ts` are never judged, nor the older readings of a batch, nor a
 * reading less than `sampleSec` (of `ts`) after the previous sample. A reading that did not arrive
 * at the pace it was measured — its receipt moved more than `paceToleranceSec`, or more than half
 * the step, away from its `ts` since the previous sample — is not judged either: that is a
 * backlog being sent after an outage (or a clock being set), not the clock's offset.
 * Value: the skew in seconds (negative: behind); threshold: `maxSkewSec`.
 */
export const clockSkew = defineRule({
  type: 'clockSkew',
  source: 'NTP-synchronised field devices stay within seconds; 2 min off on 10 readings is a clock gone wrong, not network delay',
  params: { maxSkewSec: 120, readings: 10, clearReadings: 10, sampleSec: 1, paceToleranceSec: 10 },
  build (p) {
    const maxSkewMs = p.maxSkewSec * 1000
    const paceToleranceMs = p.paceToleranceSec * 1000
    const skewSec = (h: FieldHistory): number => Math.round(h.clock.skewMs / 1000)
    return {
      type: 'clockSkew',
      fields: [],
      clockSampleSec: p.sampleSec,
      takes (r, h) {
        const sample = h.clock
        if (sample.tsMs !== r.tsMs) return false
        if (Number.isNaN(sample.tsStepMs)) return true
        return Math.abs(sample.receivedStepMs - sample.tsStepMs) <= Math.min(paceToleranceMs, sample.tsStepMs / 2)
      },
      triggers: [{
        severity: 'warning',
        forReadings: p.readings,
        when (_r, h) { return Math.abs(h.clock.skewMs) > maxSkewMs },
        value (_r, h) { return skewSec(h) },
        threshold () { return p.maxSkewSec },
      }],
      clear (_r, h) { return Math.abs(h.clock.skewMs) <= maxSkewMs },
      clearForReadings: p.clearReadings,
      describe (_severity, value) {
        return `The device's clock is ${formatSeconds(value)} ${value < 0 ? 'behind' : 'ahead of'} the gateway's (more than ${formatSeconds(p.maxSkewSec)} on ${p.readings} readings in a row): durations and rates judged from its readings are suspect.`
      },
      describeClear (value) {
        return `The device's clock agrees with the gateway's again (${formatSeconds(value)} off; within ${formatSeconds(p.maxSkewSec)} on ${p.clearReadings} readings in a row).`
      },
    }
  },
})
