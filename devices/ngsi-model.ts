// Enters: a kind's table of reading field → NGSI-LD attribute (name, UN/CEFACT unit code, scale) and
// the attributes it derives. Leaves: a frozen mapping turning one reading into NGSI-LD attributes.
// Pure: every Property carries the reading's time as observedAt, so coalescing can keep the newest.
import { z } from 'zod'

export const ngsiPropertySchema = z.object({
  type: z.literal('Property'),
  value: z.union([z.string(), z.number(), z.boolean(), z.array(z.string()), z.record(z.string(), z.unknown())]),
  unitCode: z.string().optional(),
  observedAt: z.string().optional(),
})
export const ngsiGeoPropertySchema = z.object({
  type: z.literal('GeoProperty'),
  value: z.object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]) }),
})
export const ngsiRelationshipSchema = z.object({ type: z.literal('Relationship'), object: z.string(), observedAt: z.string().optional() })
export const ngsiAttributeSchema = z.union([ngsiPropertySchema, ngsiGeoPropertySchema, ngsiRelationshipSchema])

export type NgsiProperty = z.infer<typeof ngsiPropertySchema>
export type NgsiAttribute = z.infer<typeof ngsiAttributeSchema>
/** An entity's attributes by name (without `id`, `type`, `@context`). */
export type NgsiAttributes = Record<string, NgsiAttribute>

/** How one reading field becomes one attribute. `scale` multiplies the value (a percentage → 0–1). */
export interface NgsiFieldMapping {
  readonly attribute: string
  /** UN/CEFACT common code (NGSI-LD unitCode); absent for dimensionless values and booleans. */
  readonly unitCode?: string
  readonly scale?: number
}

export interface NgsiModelDefinition {
  /** The Smart Data Models entity type, e.g. `Streetlight`. */
  readonly entityType: string
  readonly fields: Readonly<Record<string, NgsiFieldMapping>>
  /** Attributes computed from the reading as a whole (status, powerState, dateObserved…). */
  readonly derive?: (values: Readonly<Record<string, number | boolean>>, observedAt: string) => NgsiAttributes
  /** Documentation of the derived attributes, for the README table: attribute → how it is derived. */
  readonly derived?: Readonly<Record<string, string>>
}

export interface NgsiModel extends NgsiModelDefinition {
  /** The attributes one reading updates; fields the table does not name are not exported. */
  attributesOf(values: Readonly<Record<string, number | boolean>>, observedAt: string): NgsiAttributes
}

export function property (value: NgsiProperty['value'], observedAt: string, unitCode?: string): NgsiProperty {
  return unitCode === undefined ? { type: 'Property', value, observedAt } : { type: 'Property', value, unitCode, observedAt }
}

export function defineNgsiModel (definition: NgsiModelDefinition): NgsiModel {
  const entries = Object.entries(definition.fields)
  return Object.freeze({
    ...definition,
    attributesOf (values: Readonly<Record<string, number | boolean>>, observedAt: string): NgsiAttributes {
      const attributes: NgsiAttributes = {}
      for (const [field, mapping] of entries) {
        const value = values[field]
        if (value === undefined) continue
        const scaled = typeof value === 'number' && mapping.scale !== undefined ? roundScaled(value * mapping.scale) : value
        attributes[mapping.attribute] = property(scaled, observedAt, mapping.unitCode)
      }
      return { ...attributes, ...definition.derive?.(values, observedAt) }
    },
  })
}

/** Scaling 57 % by 0.01 gives 0.5700000000000001; 9 significant digits are more than any sensor has. */
function roundScaled (value: number): number {
  return Number(value.toPrecision(9))
}

/** The reading's value of `field` when it is a number, else undefined. */
export function numberOf (values: Readonly<Record<string, number | boolean>>, field: string): number | undefined {
  const value = values[field]
  return typeof value === 'number' ? value : undefined
}
