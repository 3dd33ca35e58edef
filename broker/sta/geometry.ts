// Planar geometry on lon/lat degrees for $filter's spatial functions: point in polygon, distance
// and length in degrees (as FROST-Server's geometry columns answer them). Combinations other than
// points with points, lines and polygons are a 501, not a guess.
import { notImplemented } from './sta-error.ts'
import type { Geometry, Position } from './wkt.ts'

/** Whether the point lies inside the polygon's outer ring and outside its holes; the boundary counts as inside. */
function pointInPolygon (point: Position, rings: readonly Position[][]): boolean {
  const [outer, ...holes] = rings
  if (outer === undefined || !inRing(point, outer, true)) return false
  return holes.every(function outsideHole (hole) { return !inRing(point, hole, false) })
}

/** Ray casting; `withBoundary` decides what a point on an edge is. */
function inRing (point: Position, ring: readonly Position[], withBoundary: boolean): boolean {
  const [x, y] = point
  let inside = false
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i] as Position
    const [xj, yj] = ring[j] as Position
    if (onSegment(point, [xi, yi], [xj, yj])) return withBoundary
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside
  }
  return inside
}

function onSegment (p: Position, a: Position, b: Position): boolean {
  const cross = (p[0] - a[0]) * (b[1] - a[1]) - (p[1] - a[1]) * (b[0] - a[0])
  if (Math.abs(cross) > 1e-12) return false
  return p[0] >= Math.min(a[0], b[0]) && p[0] <= Math.max(a[0], b[0]) && p[1] >= Math.min(a[1], b[1]) && p[1] <= Math.max(a[1], b[1])
}

function pointToSegment (p: Position, a: Position, b: Position): number {
  const dx = b[0] - a[0]
  const dy = b[1] - a[1]
  const lengthSquared = dx * dx + dy * dy
  const t = lengthSquared === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / lengthSquared))
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy))
}

function pointToLine (p: Position, line: readonly Position[]): number {
  let best = Infinity
  for (let i = 1; i < line.length; i++) best = Math.min(best, pointToSegment(p, line[i - 1] as Position, line[i] as Position))
  return best
}

/** Whether a lies within b (a point in a polygon or on a line, or equal to a point). */
export function within (a: Geometry, b: Geometry): boolean {
  if (a.type !== 'Point') throw notImplemented(`st_within of a ${a.type}`)
  return intersects(a, b)
}

/** Whether the two geometries share a point; one of them must be a point. */
export function intersects (a: Geometry, b: Geometry): boolean {
  if (a.type !== 'Point') {
    if (b.type === 'Point') return intersects(b, a)
    throw notImplemented(`spatial relation of a ${a.type} and a ${b.type}`)
  }
  if (b.type === 'Point') return a.coordinates[0] === b.coordinates[0] && a.coordinates[1] === b.coordinates[1]
  if (b.type === 'LineString') return pointToLine(a.coordinates, b.coordinates) === 0
  return pointInPolygon(a.coordinates, b.coordinates)
}

export function equals (a: Geometry, b: Geometry): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Shortest distance in degrees; one of the two must be a point. */
export function distance (a: Geometry, b: Geometry): number {
  if (a.type !== 'Point') {
    if (b.type === 'Point') return distance(b, a)
    throw notImplemented(`geo.distance between a ${a.type} and a ${b.type}`)
  }
  if (b.type === 'Point') return Math.hypot(a.coordinates[0] - b.coordinates[0], a.coordinates[1] - b.coordinates[1])
  if (b.type === 'LineString') return pointToLine(a.coordinates, b.coordinates)
  if (pointInPolygon(a.coordinates, b.coordinates)) return 0
  return Math.min(...b.coordinates.map(function toRing (ring) { return pointToLine(a.coordinates, ring) }))
}

/** Length of a line in degrees. */
export function length (g: Geometry): number {
  if (g.type !== 'LineString') throw notImplemented(`geo.length of a ${g.type}`)
  let total = 0
  for (let i = 1; i < g.coordinates.length; i++) {
    const a = g.coordinates[i - 1] as Position
    const b = g.coordinates[i] as Position
    total += Math.hypot(b[0] - a[0], b[1] - a[1])
  }
  return total
}

/** A GeoJSON value of an entity (Location.location, FeatureOfInterest.feature) as a Geometry, if it is one. */
export function asGeometry (value: unknown): Geometry | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const { type, coordinates } = value as { type?: unknown; coordinates?: unknown }
  if ((type === 'Point' || type === 'LineString' || type === 'Polygon') && Array.isArray(coordinates)) return value as Geometry
  return undefined
}
