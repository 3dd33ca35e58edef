// What an outside consumer (another department, an open-data portal) may see: districts, kinds,
// fields and how precise locations are. Every route and message that serves a consumer filters
// through one ConsumerScope; crews and operators are served without one (exact, unfiltered).
import { z } from 'zod'
import { kindNames } from '../../devices/index.ts'

export const LOCATION_PRECISIONS = ['exact', 'coarse', 'none'] as const
export type LocationPrecision = typeof LOCATION_PRECISIONS[number]

export const consumerScopeSchema = z.object({
  /** Districts the consumer sees; absent = every district. */
  districts: z.array(z.string()).optional(),
  /** Device kinds the consumer sees; absent = every kind. */
  kinds: z.array(z.enum(kindNames)).optional(),
  /** Reading fields the consumer sees; absent = every field of the kinds it sees. */
  fields: z.array(z.string()).optional(),
  location: z.enum(LOCATION_PRECISIONS),
})
export type ConsumerScope = z.infer<typeof consumerScopeSchema>

/** The size of a coarse location's grid cell, in metres (north–south, and east–west at the cell's latitude). */
export const COARSE_CELL_M = 500
const METRES_PER_DEGREE_LAT = 111_320
const CELL_LAT_DEG = COARSE_CELL_M / METRES_PER_DEGREE_LAT

export function seesDistrict (scope: ConsumerScope, district: string): boolean {
  return scope.districts === undefined || scope.districts.includes(district)
}

export function seesKind (scope: ConsumerScope, kind: string): boolean {
  return scope.kinds === undefined || (scope.kinds as readonly string[]).includes(kind)
}

export function seesField (scope: ConsumerScope, field: string): boolean {
  return scope.fields === undefined || scope.fields.includes(field)
}

/** Whether a device of this kind in this district is visible to the consumer at all. */
export function seesDevice (scope: ConsumerScope, device: { kind: string; district: string }): boolean {
  return seesDistrict(scope, device.district) && seesKind(scope, device.kind)
}

/**
 * The centre of the fixed grid cell a point lies in. Rows are COARSE_CELL_M tall from the equator;
 * within a row, columns are COARSE_CELL_M wide at the row's central latitude, counted from the
 * 180th meridian. Deterministic: every point of a cell maps to the same centre, so nothing more
 * precise can be learnt by asking many times or by filtering on distances.
 */
export function coarsen (lat: number, lon: number): { lat: number; lon: number } {
  const row = Math.floor((lat + 90) / CELL_LAT_DEG)
  const centreLat = Math.min(90, -90 + (row + 0.5) * CELL_LAT_DEG)
  const cellLonDeg = CELL_LAT_DEG / Math.max(Math.cos(centreLat * Math.PI / 180), 1e-6)
  const column = Math.floor((lon + 180) / cellLonDeg)
  const centreLon = -180 + (column + 0.5) * cellLonDeg
  return { lat: round6(centreLat), lon: round6(Math.min(180, centreLon)) }
}

/** A location as this scope may see it: exact, snapped to its grid cell, or none. */
export function locationFor (scope: ConsumerScope | undefined, lat: number | undefined, lon: number | undefined): { lat: number; lon: number } | undefined {
  if (lat === undefined || lon === undefined) return undefined
  if (scope === undefined || scope.location === 'exact') return { lat, lon }
  if (scope.location === 'none') return undefined
  return coarsen(lat, lon)
}

function round6 (value: number): number {
  return Math.round(value * 1e6) / 1e6
}
