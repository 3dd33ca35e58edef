// compileReadingPrecheck: a kind in; a plain function that accepts the common, clearly valid reading
// out (or undefined when the kind's schema uses anything it does not know). Derived from the JSON
// Schema zod generates for the kind, so it follows the zod schema; it only ever says "valid, here is
// zod's output" or "ask zod": anything unusual — a string `ts`, a wrong type, a value out of range —
// goes to zod, which judges it and words the notice. Why: zod was ~8 % of the gateway's CPU under
// load (`npm run bench`, profiled) for readings that are almost always plainly valid.
// test/broker/ingest/reading-precheck.test.ts checks against zod that whatever it accepts, zod
// accepts with the same output.
import type { DeviceKind } from '../../devices/define-kind.ts'
import { kindJsonSchema } from '../../devices/json-schema.ts'

export type ReadingData = Record<string, number | boolean>
/**
 * The reading's data exactly as zod's safeParse would return it (deep-equal), or undefined: ask zod.
 * `knownKeyCount`: the item's number of keys when the caller found all of them among the kind's
 * keys (undefined otherwise). An item that then holds just valid values and no `ts` is returned as
 * it is instead of copied: one object less per reading on the hot path.
 */
export type ReadingPrecheck = (item: Record<string, unknown>, knownKeyCount?: number) => ReadingData | undefined

interface FieldCheck {
  readonly key: string
  readonly type: 'integer' | 'number' | 'boolean'
  readonly isRequired: boolean
  readonly min: number
  readonly max: number
  readonly isMinExclusive: boolean
  readonly isMaxExclusive: boolean
}

/** Keywords whose meaning the checks below cover; any other keyword on a field disables the precheck. */
const UNDERSTOOD = new Set(['type', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'description', 'unit', 'label', 'varies'])

export function compileReadingPrecheck (kind: DeviceKind): ReadingPrecheck | undefined {
  const schema = kindJsonSchema(kind) as { properties?: Record<string, Record<string, unknown>>, required?: string[] }
  const required = new Set(schema.required ?? [])
  const checks: FieldCheck[] = []
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    // `ts`: only the plain integer form is taken here; the ISO-8601 string form goes to zod.
    if (key === 'ts') continue
    const check = fieldCheck(key, property, required.has(key))
    if (check === undefined) return undefined
    checks.push(check)
  }
  if (required.has('ts')) return undefined

  return function precheck (item, knownKeyCount) {
    const ts = item.ts
    // Made only when the item itself cannot be the output (a ts to leave out, unknown keys to drop).
    let data: ReadingData | undefined
    if (ts !== undefined) {
      if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) return undefined
      data = { ts }
    } else if (knownKeyCount === undefined || Object.getPrototypeOf(item) !== Object.prototype) {
      data = {} // (JSON.parse makes plain objects; anything else is copied into one, as zod would)
    }
    let present = 0
    for (let i = 0; i < checks.length; i++) {
      const check = checks[i]!
      const value = item[check.key]
      if (value === undefined) {
        if (check.isRequired) return undefined
        continue
      }
      present++
      if (check.type === 'boolean') {
        if (typeof value !== 'boolean') return undefined
      } else {
        if (typeof value !== 'number') return undefined
        if (check.type === 'integer' ? !Number.isSafeInteger(value) : !Number.isFinite(value)) return undefined
        if (check.isMinExclusive ? value <= check.min : value < check.min) return undefined
        if (check.isMaxExclusive ? value >= check.max : value > check.max) return undefined
      }
      if (data !== undefined) data[check.key] = value
    }
    if (data !== undefined) return data
    // Every key was a checked field with a value (a key holding undefined would not count).
    return present === knownKeyCount ? item as ReadingData : undefined
  }
}

function fieldCheck (key: string, property: Record<string, unknown>, isRequired: boolean): FieldCheck | undefined {
  for (const keyword of Object.keys(property)) if (!UNDERSTOOD.has(keyword)) return undefined
  const { type, minimum, maximum, exclusiveMinimum, exclusiveMaximum } = property
  if (type !== 'integer' && type !== 'number' && type !== 'boolean') return undefined
  const bound = (value: unknown, fallback: number): number | undefined =>
    value === undefined ? fallback : typeof value === 'number' ? value : undefined
  const min = bound(exclusiveMinimum ?? minimum, Number.NEGATIVE_INFINITY)
  const max = bound(exclusiveMaximum ?? maximum, Number.POSITIVE_INFINITY)
  if (min === undefined || max === undefined) return undefined
  // Both an inclusive and an exclusive bound on one side: not generated for our kinds; let zod judge.
  if ((minimum !== undefined && exclusiveMinimum !== undefined) || (maximum !== undefined && exclusiveMaximum !== undefined)) return undefined
  return { key, type, isRequired, min, max, isMinExclusive: exclusiveMinimum !== undefined, isMaxExclusive: exclusiveMaximum !== undefined }
}
