// defineKind: a kind's own fields (a zod shape) and their InfluxDB types in; a frozen DeviceKind out.
// Throws at definition time unless every field has exactly one InfluxDB type that agrees with its
// zod schema, so no reading can ever cause a field type conflict in InfluxDB.
import { z } from 'zod'
import type { RuleDefinition } from './define-rule.ts'

/** InfluxDB type of a stored field; strings are never telemetry. */
export type FieldType = 'integer' | 'float' | 'boolean'

/** What a kind's own field may be: a number or boolean schema, possibly `.optional()`. */
export type KindShape = Readonly<Record<string, z.ZodType<number | boolean | undefined>>>

const TS_DESCRIPTION = 'Time of measurement: ISO-8601 date-time with Z or ±hh:mm offset, or epoch milliseconds (integer); absent = time of receipt'

/** Fields any reading may carry whatever its kind (README "For devices"). */
export const envelopeShape = {
  // A local time without offset is refused: a device's idea of "local" is exactly what drifts.
  ts: z.union([z.iso.datetime({ offset: true }), z.int().min(0)]).optional().meta({ description: TS_DESCRIPTION }),
  seq: z.int().min(0).optional().meta({ label: 'Frame counter', description: 'Frame counter' }),
  rssi: z.number().min(-150).max(0).optional().meta({ label: 'Signal', description: 'Received signal strength', unit: 'dBm' }),
} as const

export type EnvelopeShape = typeof envelopeShape

/** The envelope fields that are stored as InfluxDB fields (`ts` becomes the point's timestamp). */
const ENVELOPE_FIELD_TYPES = { seq: 'integer', rssi: 'float' } as const satisfies Record<string, FieldType>

/** Names a kind's field may not take: the envelope's, and `time`, which InfluxDB 1.x refuses as a field key. */
const RESERVED_FIELD_NAMES = new Set(['ts', 'seq', 'rssi', 'time'])
/** Plain identifiers only, so field keys never need line-protocol escaping nor collide with `_`-prefixed Flux columns. */
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9]*$/
const KIND_NAME = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$/
const MEASUREMENT = /^[a-z][a-z0-9_]*$/

export interface KindDefinition<Name extends string, Shape extends KindShape> {
  /** Kind name as devices are registered with, kebab-case (`lamp-post`). */
  readonly name: Name
  /** InfluxDB measurement, snake_case (`lamp_post`). */
  readonly measurement: string
  /** The kind's own fields; each carries `.meta({ unit, description })` for the JSON Schema, and `label` where the name spelt out is wrong (pH, H₂S). */
  readonly fields: Shape
  /** InfluxDB type of every field of `fields`, no more, no less. */
  readonly fieldTypes: { readonly [K in keyof Shape]: FieldType }
  /** How often a healthy device reports, in seconds; the offline detector derives from it. */
  readonly expectedIntervalSec: number
  /** Default alarm rules; each may only read the kind's own fields. Default: none. */
  readonly rules?: readonly RuleDefinition[]
}

export interface DeviceKind<Name extends string = string, Shape extends KindShape = KindShape> {
  readonly name: Name
  readonly measurement: string
  /** One reading: envelope (`ts`, `seq`, `rssi`) plus the kind's fields; unknown keys are stripped. */
  readonly schema: z.ZodObject<EnvelopeShape & Shape>
  /** Every stored field: the kind's fields, then `seq` and `rssi`. */
  readonly fieldTypes: Readonly<Record<string, FieldType>>
  /** Keys of `fieldTypes` in storage order: the kind's fields as defined, then `seq`, `rssi`. */
  readonly fieldNames: readonly string[]
  readonly expectedIntervalSec: number
  /** Default alarm rules, by type (a rules file may override their params or switch them off). */
  readonly rules: readonly RuleDefinition[]
}

/** The validated output of one reading of a kind. */
export type ReadingOf<K extends DeviceKind> = z.infer<K['schema']>

export function defineKind<const Name extends string, Shape extends KindShape> (
  definition: KindDefinition<Name, Shape>,
): DeviceKind<Name, Shape> {
  const { name, measurement, fields, fieldTypes, expectedIntervalSec, rules = [] } = definition
  const fail = (message: string): never => { throw new TypeError(`defineKind(${name}): ${message}`) }

  if (!KIND_NAME.test(name)) fail('name must be kebab-case')
  if (!MEASUREMENT.test(measurement)) fail('measurement must be snake_case')
  if (!Number.isInteger(expectedIntervalSec) || expectedIntervalSec <= 0) fail('expectedIntervalSec must be a positive integer')

  const shapeKeys = Object.keys(fields)
  const typedKeys = Object.keys(fieldTypes)
  for (const key of typedKeys) {
    if (!Object.hasOwn(fields, key)) fail(`fieldTypes names "${key}", which is not a field`)
  }
  for (const key of shapeKeys) {
    if (!FIELD_NAME.test(key)) fail(`field "${key}" must be a plain identifier`)
    if (RESERVED_FIELD_NAMES.has(key)) fail(`field "${key}" is reserved`)
    const declared = (fieldTypes as Readonly<Record<string, FieldType | undefined>>)[key]
    if (declared === undefined) fail(`field "${key}" has no entry in fieldTypes`)
    const actual = influxTypeOf(fields[key] as z.core.$ZodType)
    if (actual !== declared) fail(`field "${key}" is declared ${String(declared)} but its schema is ${actual}`)
  }

  const ruleTypes = new Set<string>()
  for (const rule of rules) {
    if (ruleTypes.has(rule.type)) fail(`two rules of type "${rule.type}"`)
    ruleTypes.add(rule.type)
    for (const field of rule.build(rule.params).fields) {
      if (!Object.hasOwn(fields, field)) fail(`rule "${rule.type}" reads "${field}", which is not a field`)
    }
  }

  const allFieldTypes: Record<string, FieldType> = {}
  for (const key of shapeKeys) allFieldTypes[key] = (fieldTypes as Readonly<Record<string, FieldType>>)[key] as FieldType
  Object.assign(allFieldTypes, ENVELOPE_FIELD_TYPES)

  return Object.freeze({
    name,
    measurement,
    schema: z.object({ ...envelopeShape, ...fields }),
    fieldTypes: Object.freeze(allFieldTypes),
    fieldNames: Object.freeze(Object.keys(allFieldTypes)),
    expectedIntervalSec,
    rules: Object.freeze([...rules]),
  })
}

/** What a field schema stores as; anything but a (optional) number or boolean is a definition error. */
function influxTypeOf (schema: z.core.$ZodType): FieldType | 'unsupported' {
  let inner = schema
  while (inner instanceof z.ZodOptional) inner = inner.unwrap()
  if (inner instanceof z.ZodBoolean) return 'boolean'
  if (inner instanceof z.ZodNumber) return inner.isInt ? 'integer' : 'float'
  return 'unsupported'
}
