// The precheck in front of zod may only say "valid" where zod says so too, with zod's own output;
// for everything else it must step aside. Checked on generated readings of every kind: values of
// every type, in and out of range, at the bounds, missing required fields, `ts` in both forms,
// unknown keys.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compileReadingPrecheck } from '../../../broker/ingest/reading-precheck.ts'
import { kinds } from '../../../devices/index.ts'
import { kindJsonSchema } from '../../../devices/json-schema.ts'

const allKinds = Object.values(kinds)

/** Mostly values valid for the field; also values on, just inside and just outside its bounds, and wrong types. */
function valuesFor (property: Record<string, unknown>): fc.Arbitrary<unknown> {
  const bounds = [property.minimum, property.maximum, property.exclusiveMinimum, property.exclusiveMaximum]
    .filter((n): n is number => typeof n === 'number')
  const edges = bounds.flatMap((n) => [n, n - 1, n + 1, n - 0.5, n + 0.5, n - Number.EPSILON * Math.abs(n)])
  const min = Math.max(-1e6, typeof property.minimum === 'number' ? property.minimum : -1e6)
  const max = Math.min(1e6, typeof property.maximum === 'number' ? property.maximum : 1e6)
  const valid = property.type === 'boolean'
    ? fc.boolean()
    : property.type === 'integer' ? fc.integer({ min, max }) : fc.double({ noNaN: true, min, max })
  const tricky = fc.oneof(
    fc.constantFrom(...edges, 0, -0, 1, 0.5, 1e300, -1e300, Number.MAX_SAFE_INTEGER + 2),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -3000, max: 3000 }),
    fc.integer({ min: -3000, max: 3000 }),
    fc.boolean(),
    fc.constantFrom(null, '12', [], {}, 'true'),
  )
  return fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: tricky, weight: 1 })
}

const tsValues = fc.oneof(
  fc.integer({ min: 0, max: 4_102_444_800_000 }),
  fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, '2026-11-25T10:00:00Z', '2026-11-25T10:00:00', null, true),
)

/** A plainly valid reading: every required field at its minimum (or 0, or false), nothing else. */
function typicalReading (kind: (typeof allKinds)[number]): Record<string, unknown> {
  const required = (kindJsonSchema(kind) as { required?: string[] }).required ?? []
  const properties = (kindJsonSchema(kind) as { properties: Record<string, Record<string, unknown>> }).properties
  const item: Record<string, unknown> = {}
  for (const key of required) item[key] = properties[key]?.type === 'boolean' ? false : (properties[key]?.minimum ?? 0)
  return item
}

describe('reading precheck', () => {
  it('exists for every kind (each schema uses only what it understands)', () => {
    for (const kind of allKinds) expect(compileReadingPrecheck(kind), kind.name).toBeTypeOf('function')
  })

  for (const kind of allKinds) {
    it(`${kind.name}: accepts only what zod accepts, with zod's output`, () => {
      const precheck = compileReadingPrecheck(kind)
      if (precheck === undefined) throw new Error('no precheck')
      const properties = (kindJsonSchema(kind) as { properties: Record<string, Record<string, unknown>> }).properties
      const fields = Object.entries(properties).filter(([key]) => key !== 'ts')
      const reading = fc.record(
        {
          ts: tsValues,
          ...Object.fromEntries(fields.map(([key, property]) => [key, valuesFor(property)])),
          firmwareNote: fc.string(),
        },
        { requiredKeys: [] },
      )
      const knownKeys = new Set(Object.keys(kind.schema.shape))
      let accepted = 0
      let takenAsItIs = 0
      fc.assert(fc.property(reading, fc.boolean(), (item, isCounted) => {
        // As validate.ts calls it: with the key count when every key is known, or without one.
        const keys = Object.keys(item)
        const knownKeyCount = isCounted && keys.every((key) => knownKeys.has(key)) ? keys.length : undefined
        const fast = precheck(item, knownKeyCount)
        if (fast === undefined) return
        accepted++
        if (fast === item) takenAsItIs++
        const zod = kind.schema.safeParse(item)
        expect(zod.success).toBe(true)
        expect(fast).toStrictEqual(zod.data)
      }), { numRuns: 3000, examples: [[typicalReading(kind), true]] })
      // The property above was not vacuous, for copies and for items taken as they are (the typical
      // reading among the examples is one of those; generated ones are, but only now and then).
      expect(accepted).toBeGreaterThan(0)
      expect(takenAsItIs).toBeGreaterThan(0)
    })

    it(`${kind.name}: takes a typical valid reading without zod, and steps aside for a string ts`, () => {
      const precheck = compileReadingPrecheck(kind)
      const item = typicalReading(kind)
      expect(precheck?.(item)).toStrictEqual(kind.schema.parse(item))
      expect(precheck?.(item, Object.keys(item).length)).toBe(item) // no copy
      expect(precheck?.({ ...item, extra: undefined }, Object.keys(item).length + 1)).toBeUndefined() // a key holding undefined: zod's job
      expect(precheck?.({ ...item, ts: '2026-11-25T10:00:00Z' })).toBeUndefined()
    })
  }
})
