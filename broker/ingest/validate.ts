// validateTelemetry: the raw payload of one telemetry message of a known kind in; an outcome out.
// Never throws on device input: a bad message as a whole is `{ ok: false, reason }`, otherwise every
// reading of a batch is judged on its own, so one bad reading never costs a device the others.
import type { z } from 'zod'
import type { DeviceKind } from '../../devices/define-kind.ts'
import { compileReadingPrecheck, type ReadingPrecheck } from './reading-precheck.ts'

/** Why a message as a whole was refused; stable codes, also the `reason` tag of `rejected` points. */
export type MessageRejectionReason =
  | 'invalid_utf8'
  | 'invalid_json'
  | 'not_object_or_array'
  | 'empty_batch'
  | 'batch_too_large'
  | 'forbidden_key'

/** Why one reading of a message was refused. */
export type ReadingRejectionReason = 'invalid_reading' | 'ts_in_future' | 'ts_too_old'

/** One problem, for humans: `field` is the dotted path in the reading ('' = the reading or message itself). */
export interface FieldIssue {
  readonly field: string
  readonly message: string
}

export interface ValidReading {
  /** Position in the batch (0 for a single-object message). */
  readonly index: number
  /** The reading's `ts` in epoch ms, or `nowMs` when it carried none (ingest then restamps it in place). */
  tsMs: number
  /** Whether the reading carried its own `ts` (false: `tsMs` is the time of receipt). */
  readonly tsGiven: boolean
  /** Known fields present in the reading (kind fields, `seq`, `rssi`; never `ts`), typed by the schema. */
  readonly values: Readonly<Record<string, number | boolean>>
}

export interface ReadingRejection {
  readonly index: number
  readonly reason: ReadingRejectionReason
  readonly issues: readonly FieldIssue[]
}

export type ValidationOutcome =
  | { readonly ok: false, readonly reason: MessageRejectionReason, readonly issues: readonly FieldIssue[] }
  | {
    readonly ok: true
    readonly readings: ValidReading[]
    readonly rejections: readonly ReadingRejection[]
    /** Keys no field of the kind has, deduplicated over the batch, in order of appearance. */
    readonly unknownFields: readonly string[]
  }

export interface ValidateOptions {
  /** The gateway's clock at receipt, epoch ms. */
  readonly nowMs: number
  /** How far a `ts` may be ahead of `nowMs`, ms. */
  readonly maxFutureMs: number
  /** How far a `ts` may be behind `nowMs`, ms (BACKFILL_DAYS). */
  readonly backfillMs: number
  /** Most readings in one array message (MAX_BATCH_READINGS). */
  readonly maxBatch: number
}

/** Keys that could reach an object's prototype if some later code merged the parsed value. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
/** Caps what one message can make us list; a hostile firmware could send thousands of keys. */
const MAX_UNKNOWN_FIELDS = 32
const TS_FORMAT = 'must be an ISO-8601 date-time with Z or ±hh:mm offset, or epoch milliseconds (integer ≥ 0)'

const utf8 = new TextDecoder('utf-8', { fatal: true })
const NO_FIELDS: readonly string[] = Object.freeze([])

// Built once per kind, not per message: per-message code only looks up.
interface CompiledKind {
  readonly knownKeys: ReadonlySet<string>
  readonly precheck: ReadingPrecheck | undefined
}
const compiled = new WeakMap<DeviceKind, CompiledKind>()

function compile (kind: DeviceKind): CompiledKind {
  let entry = compiled.get(kind)
  if (entry === undefined) {
    entry = { knownKeys: new Set(Object.keys(kind.schema.shape)), precheck: compileReadingPrecheck(kind) }
    compiled.set(kind, entry)
  }
  return entry
}

export function validateTelemetry (
  kind: DeviceKind,
  payload: Uint8Array,
  options: ValidateOptions,
): ValidationOutcome {
  const { nowMs, maxFutureMs, backfillMs, maxBatch } = options

  let text: string
  try {
    text = utf8.decode(payload)
  } catch {
    return refuse('invalid_utf8', 'payload is not valid UTF-8')
  }

  let parsed: unknown
  try {
    // V8's JSON.parse is not recursive, so 10,000 levels of nesting cannot overflow the stack.
    parsed = JSON.parse(text)
  } catch (err) {
    return refuse('invalid_json', err instanceof Error ? `payload is not valid JSON: ${err.message}` : 'payload is not valid JSON')
  }

  if (parsed === null || typeof parsed !== 'object') {
    return refuse('not_object_or_array', `expected a JSON object or array, got ${typeName(parsed)}`)
  }
  const items: readonly unknown[] = Array.isArray(parsed) ? parsed : [parsed]
  if (items.length === 0) return refuse('empty_batch', 'a batch must hold at least one reading')
  if (items.length > maxBatch) {
    return refuse('batch_too_large', `a batch holds at most ${maxBatch} readings, got ${items.length}`)
  }

  const forbiddenPath = findForbiddenKey(parsed)
  if (forbiddenPath !== undefined) {
    return refuse('forbidden_key', `key "${forbiddenPath.key}" is not allowed`, forbiddenPath.path)
  }

  const { knownKeys, precheck } = compile(kind)
  const readings: ValidReading[] = []
  const rejections: ReadingRejection[] = []
  let unknown: Set<string> | undefined // made on the first unknown key: most messages have none

  for (let index = 0; index < items.length; index++) {
    const item = items[index]
    const isObject = isPlainObject(item)
    // How many keys the item has, when all of them are the kind's (undefined: some are not, or not looked at).
    let knownKeyCount: number | undefined
    if (isObject && (unknown === undefined || unknown.size < MAX_UNKNOWN_FIELDS)) {
      knownKeyCount = 0
      for (const key in item) {
        if (knownKeys.has(key)) {
          if (knownKeyCount !== undefined) knownKeyCount++
          continue
        }
        knownKeyCount = undefined
        unknown ??= new Set()
        if (unknown.size < MAX_UNKNOWN_FIELDS) unknown.add(key)
      }
    }

    // The plainly valid reading is taken without zod (reading-precheck.ts); zod judges the rest.
    const prechecked = precheck !== undefined && isObject ? precheck(item, knownKeyCount) : undefined
    let data: { ts?: string | number } & Record<string, number | boolean>
    if (prechecked !== undefined) {
      data = prechecked
    } else {
      const result = kind.schema.safeParse(item)
      if (!result.success) {
        // Parsed again, with our wording: a per-call error map costs zod its fast path (measured
        // 2.5× slower on a valid lamp-post reading), so only bad readings pay for it.
        const explained = kind.schema.safeParse(item, PARSE_PARAMS)
        const issues = explained.success ? [{ field: '', message: 'is invalid' }] : toFieldIssues(explained.error.issues)
        rejections.push({ index, reason: 'invalid_reading', issues })
        continue
      }
      data = result.data as { ts?: string | number } & Record<string, number | boolean>
    }

    const { ts } = data
    // zod's output is a fresh object of known keys only (an absent optional key stays absent), so
    // without `ts` it is the values as they are; copying it for every reading showed in profiles.
    const values: Record<string, number | boolean> = ts === undefined ? data : withoutTs(data)
    const tsGiven = ts !== undefined
    const tsMs = ts === undefined ? nowMs : typeof ts === 'number' ? ts : Date.parse(ts)
    if (Number.isNaN(tsMs)) {
      // Unreachable while zod's date-time pattern and Date.parse agree; a NaN must never reach the encoder.
      rejections.push({ index, reason: 'invalid_reading', issues: [{ field: 'ts', message: TS_FORMAT }] })
      continue
    }
    if (tsMs > nowMs + maxFutureMs) {
      rejections.push({ index, reason: 'ts_in_future', issues: [{ field: 'ts', message: `is ${formatDuration(tsMs - nowMs)} ahead of the gateway clock (at most ${formatDuration(maxFutureMs)} allowed)` }] })
      continue
    }
    if (tsMs < nowMs - backfillMs) {
      rejections.push({ index, reason: 'ts_too_old', issues: [{ field: 'ts', message: `is ${formatDuration(nowMs - tsMs)} old (at most ${formatDuration(backfillMs)} allowed)` }] })
      continue
    }
    readings.push({ index, tsMs, tsGiven, values })
  }

  return { ok: true, readings, rejections, unknownFields: unknown === undefined ? NO_FIELDS : [...unknown] }
}

function withoutTs (data: Record<string, unknown>): Record<string, number | boolean> {
  const { ts: _ts, ...values } = data
  return values as Record<string, number | boolean>
}

function refuse (reason: MessageRejectionReason, message: string, field = ''): ValidationOutcome {
  return { ok: false, reason, issues: [{ field, message }] }
}

/**
 * Own keys only: JSON.parse makes `"__proto__"` an own data property, which `in` or a prototype
 * lookup would miss. Iterative, so hostile nesting depth cannot overflow the stack. Paths are only
 * spelled out for a hit: building one per key cost more than the walk (hot path, every message).
 */
function findForbiddenKey (root: object): { key: string, path: string } | undefined {
  // Fast path: a reading or a batch of readings whose values are all primitives (nearly every
  // message) needs no stack; anything nested takes the full walk below.
  if (isFlat(root)) return undefined
  const stack: Visit[] = [{ value: root, parent: undefined, step: '' }]
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { value } = top
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const child: unknown = value[i]
        if (child !== null && typeof child === 'object') stack.push({ value: child, parent: top, step: String(i) })
      }
      continue
    }
    for (const key of Object.keys(value)) {
      if (FORBIDDEN_KEYS.has(key)) return { key, path: pathOf({ value, parent: top, step: key }) }
      const child: unknown = (value as Record<string, unknown>)[key]
      if (child !== null && typeof child === 'object') stack.push({ value: child, parent: top, step: key })
    }
  }
  return undefined
}

/** True when `value` (an object, or an array of objects) holds only primitives and no forbidden key. */
function isFlat (value: object): boolean {
  if (!Array.isArray(value)) return isFlatObject(value as Record<string, unknown>)
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i]
    if (item !== null && typeof item === 'object' && (Array.isArray(item) || !isFlatObject(item as Record<string, unknown>))) return false
  }
  return true
}

function isFlatObject (object: Record<string, unknown>): boolean {
  for (const key in object) {
    if (FORBIDDEN_KEYS.has(key)) return false
    const child = object[key]
    if (child !== null && typeof child === 'object') return false
  }
  return true
}

interface Visit { readonly value: object, readonly parent: Visit | undefined, readonly step: string }

function pathOf (visit: Visit): string {
  const steps: string[] = []
  for (let at: Visit | undefined = visit; at?.parent !== undefined; at = at.parent) steps.unshift(at.step)
  return steps.join('.')
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function typeName (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

/** Zod's issues rewritten in the words devices are told: what is wrong, per field (README "What a device is told"). */
function issueMessage (issue: z.core.$ZodRawIssue): string {
  const { input } = issue
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return 'required'
      if (typeof input === 'number' && !Number.isFinite(input)) return 'must be a finite number'
      if (issue.expected === 'int') return typeof input === 'number' ? 'must be an integer' : `expected integer, got ${typeName(input)}`
      return `expected ${issue.expected}, got ${typeName(input)}`
    case 'too_big':
      return issue.inclusive === false ? `must be less than ${String(issue.maximum)}` : `must be at most ${String(issue.maximum)}`
    case 'too_small':
      return issue.inclusive === false ? `must be greater than ${String(issue.minimum)}` : `must be at least ${String(issue.minimum)}`
    case 'invalid_union':
    case 'invalid_format':
      // `ts` is the only union and the only formatted string of a reading.
      return TS_FORMAT
    default:
      return 'is invalid'
  }
}

const PARSE_PARAMS = { error: issueMessage } as const

/** One issue per field: zod may report a safe-integer bound before the kind's own range; the last one is the useful one. */
function toFieldIssues (issues: readonly z.core.$ZodIssue[]): FieldIssue[] {
  const byField = new Map<string, string>()
  for (const issue of issues) byField.set(issue.path.join('.'), issue.message)
  return Array.from(byField, ([field, message]) => ({ field, message }))
}

function formatDuration (ms: number): string {
  const round = (x: number): number => Math.round(x * 10) / 10
  if (ms >= 2 * 86_400_000) return `${round(ms / 86_400_000)} d`
  if (ms >= 2 * 3_600_000) return `${round(ms / 3_600_000)} h`
  if (ms >= 2 * 60_000) return `${round(ms / 60_000)} min`
  return `${round(ms / 1000)} s`
}
