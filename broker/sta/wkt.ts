// Well-known text of a geography literal in (POINT, LINESTRING, POLYGON; lon lat order as OData
// and WKT write them); a GeoJSON geometry out. Other geometry types are a 501, malformed text a 400.
import { notImplemented, StaError } from './sta-error.ts'

export type Position = [number, number]
export type Geometry =
  | { type: 'Point'; coordinates: Position }
  | { type: 'LineString'; coordinates: Position[] }
  | { type: 'Polygon'; coordinates: Position[][] }

/** Most positions one literal may hold: the evaluator's work per entity grows with it. */
const MAX_POSITIONS = 10_000

export function parseWkt (wkt: string): Geometry {
  // An optional SRID=4326; prefix (EWKT) is accepted: WGS 84 is the only reference system here.
  const text = wkt.trim().replace(/^SRID=4326;/i, '')
  const match = /^([A-Za-z]+)\s*\((.*)\)$/s.exec(text)
  if (match === null) throw new StaError(400, `invalid geography literal '${wkt.slice(0, 100)}'`)
  const type = (match[1] as string).toUpperCase()
  const body = match[2] as string
  if (type === 'POINT') {
    const positions = positionsOf(body)
    if (positions.length !== 1) throw new StaError(400, 'a POINT has exactly one position')
    return { type: 'Point', coordinates: positions[0] as Position }
  }
  if (type === 'LINESTRING') {
    const positions = positionsOf(body)
    if (positions.length < 2) throw new StaError(400, 'a LINESTRING has at least two positions')
    return { type: 'LineString', coordinates: positions }
  }
  if (type === 'POLYGON') {
    const rings = ringsOf(body)
    for (const ring of rings) {
      const first = ring[0]
      const last = ring.at(-1)
      if (ring.length < 4 || first === undefined || last === undefined || first[0] !== last[0] || first[1] !== last[1]) {
        throw new StaError(400, 'a POLYGON ring has at least four positions and ends where it starts')
      }
    }
    return { type: 'Polygon', coordinates: rings }
  }
  throw notImplemented(`geography type ${type}`)
}

function ringsOf (body: string): Position[][] {
  const rings: Position[][] = []
  const ring = /\(([^()]*)\)/g
  let rest = body
  for (const match of body.matchAll(ring)) {
    rings.push(positionsOf(match[1] as string))
    rest = rest.replace(match[0], '')
  }
  if (rings.length === 0 || !/^[\s,]*$/.test(rest)) throw new StaError(400, 'invalid POLYGON rings')
  return rings
}

function positionsOf (text: string): Position[] {
  const positions: Position[] = []
  for (const part of text.split(',')) {
    const numbers = part.trim().split(/\s+/).map(Number)
    if (numbers.length < 2 || numbers.length > 3 || numbers.some(function isBad (n) { return !Number.isFinite(n) })) {
      throw new StaError(400, `invalid position '${part.trim().slice(0, 60)}'`)
    }
    positions.push([numbers[0] as number, numbers[1] as number])
    if (positions.length > MAX_POSITIONS) throw new StaError(400, `more than ${MAX_POSITIONS} positions in a geography literal`)
  }
  return positions
}
