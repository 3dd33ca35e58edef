// The Observations of a Datastream, a FeatureOfInterest or all visible ones, for one set of query
// options: the phenomenonTime window and result comparisons InfluxDB can apply are taken from the
// $filter's top-level `and`; the whole $filter is then applied to every reading read. Pages continue
// by a $skiptoken (keyset on phenomenonTime, id; the window frozen in it), never by a growing $skip.
import { z } from 'zod'
import { identifier } from '../api/influxql.ts'
import { MAX_FUTURE_MS } from '../config.ts'
import { getKind, type DeviceKind } from '../../devices/index.ts'
import { evaluate, matches } from './filter-eval.ts'
import type { Expr } from './odata-filter.ts'
import { type Cursor, type ObservationReader, type ObservationRow, type ObservationSeries } from './observation-reader.ts'
import { resolvePath } from './property-path.ts'
import type { QueryOptions } from './query-options.ts'
import type { Entity, RegistryModel, VisibleDevice } from './registry-model.ts'
import { notImplemented, StaError } from './sta-error.ts'

/** Page size without $top, and the largest $top. */
export const DEFAULT_TOP = 100
export const MAX_TOP = 1000
/** Largest $skip on Observations (next links page by keyset instead). */
export const MAX_OBSERVATION_SKIP = 1000
/** The phenomenonTime window when the $filter bounds it on one side or not at all. */
export const DEFAULT_WINDOW_MS = 24 * 3_600_000
/** The longest phenomenonTime window one request may ask for. */
export const MAX_WINDOW_MS = 31 * 24 * 3_600_000

export type ObservationSource =
  | { kind: 'all' }
  | { kind: 'datastream'; device: VisibleDevice; field: string }
  | { kind: 'feature'; device: VisibleDevice }

export interface ObservationPage {
  entities: Entity[]
  count?: number
  /** $skiptoken of the next page; undefined on the last. */
  nextToken?: string
}

const TIME_PROPERTIES = new Set(['phenomenonTime', 'resultTime'])
const INFLUX_COMPARISON: Readonly<Record<string, string>> = { eq: '=', ne: '!=', gt: '>', ge: '>=', lt: '<', le: '<=' }
const MAX_TOKEN_CHARS = 400
const tokenSchema = z.object({ t: z.int(), i: z.string().max(200), f: z.int(), u: z.int(), d: z.boolean() })

export function observationEntity (row: Pick<ObservationRow, 'id' | 'tsMs' | 'result'>, resultTimeMs = row.tsMs): Entity {
  return { set: 'Observations', id: row.id, properties: { phenomenonTime: new Date(row.tsMs).toISOString(), resultTime: new Date(resultTimeMs).toISOString(), result: row.result } }
}

/** The conjuncts of a top-level `and` chain. */
function conjuncts (expr: Expr | undefined): Expr[] {
  if (expr === undefined) return []
  if (expr.type === 'logical' && expr.op === 'and') return [...conjuncts(expr.left), ...conjuncts(expr.right)]
  return [expr]
}

function hasPath (expr: Expr): boolean {
  switch (expr.type) {
    case 'path': return true
    case 'not': return hasPath(expr.operand)
    case 'logical': case 'compare': case 'arith': return hasPath(expr.left) || hasPath(expr.right)
    case 'call': return expr.args.some(hasPath)
    default: return false
  }
}

const MIRRORED: Readonly<Record<string, string>> = { eq: 'eq', ne: 'ne', gt: 'lt', ge: 'le', lt: 'gt', le: 'ge' }

/** `path op constant` (or mirrored) with the constant evaluated; undefined for any other shape. */
function comparisonWithConstant (expr: Expr, nowMs: number): { path: string; op: string; value: unknown } | undefined {
  if (expr.type !== 'compare') return undefined
  const constant = { resolve () { return null }, nowMs }
  if (expr.left.type === 'path' && expr.left.segments.length === 1 && !hasPath(expr.right)) {
    return { path: expr.left.segments[0] as string, op: expr.op, value: evaluate(expr.right, constant) }
  }
  if (expr.right.type === 'path' && expr.right.segments.length === 1 && !hasPath(expr.left)) {
    return { path: expr.right.segments[0] as string, op: MIRRORED[expr.op] as string, value: evaluate(expr.left, constant) }
  }
  return undefined
}

/** The milliseconds a constant date-time (one) or date (a whole UTC day) stands for. */
function instantSpan (value: unknown): { firstMs: number; lastMs: number } | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  if ('ms' in value && typeof value.ms === 'number') return { firstMs: value.ms, lastMs: value.ms }
  if ('date' in value && typeof value.date === 'string') {
    const firstMs = Date.parse(`${value.date}T00:00:00Z`)
    return Number.isNaN(firstMs) ? undefined : { firstMs, lastMs: firstMs + 86_400_000 - 1 }
  }
  return undefined
}

interface Plan { fromMs?: number; toMs?: number; where: string[]; exact: boolean }

/** What InfluxDB can apply of the filter; `exact` when that is all of it. */
function planOf (filter: Expr | undefined, nowMs: number, field: { name: string; type: string } | undefined): Plan {
  const plan: Plan = { where: [], exact: true }
  for (const c of conjuncts(filter)) {
    const cmp = comparisonWithConstant(c, nowMs)
    const span = cmp === undefined ? undefined : instantSpan(cmp.value)
    if (cmp !== undefined && TIME_PROPERTIES.has(cmp.path) && span !== undefined && cmp.op !== 'ne') {
      // The times matching `op` the constant: a date compares by day (filter-eval.ts), an instant by ms.
      if (cmp.op === 'gt' || cmp.op === 'ge' || cmp.op === 'eq') plan.fromMs = Math.max(plan.fromMs ?? -Infinity, cmp.op === 'gt' ? span.lastMs + 1 : span.firstMs)
      if (cmp.op === 'lt' || cmp.op === 'le' || cmp.op === 'eq') plan.toMs = Math.min(plan.toMs ?? Infinity, cmp.op === 'lt' ? span.firstMs - 1 : span.lastMs)
      continue
    }
    // Plain decimals only: InfluxQL reads no exponent.
    const translatable = cmp !== undefined && cmp.path === 'result' && field !== undefined &&
      ((typeof cmp.value === 'number' && Number.isFinite(cmp.value) && !/e/i.test(String(cmp.value)) && field.type !== 'boolean') || (typeof cmp.value === 'boolean' && field.type === 'boolean' && (cmp.op === 'eq' || cmp.op === 'ne')))
    if (translatable) {
      plan.where.push(`${identifier(field.name)} ${INFLUX_COMPARISON[cmp.op] as string} ${String(cmp.value)}`)
      continue
    }
    plan.exact = false
  }
  return plan
}

function encodeToken (cursor: Cursor, fromMs: number, toMs: number, descending: boolean): string {
  return Buffer.from(JSON.stringify({ t: cursor.tsMs, i: cursor.id, f: fromMs, u: toMs, d: descending })).toString('base64url')
}

function decodeToken (token: string): z.infer<typeof tokenSchema> {
  if (token.length > MAX_TOKEN_CHARS) throw new StaError(400, '$skiptoken is not one of this service\'s')
  try {
    return tokenSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')))
  } catch {
    throw new StaError(400, '$skiptoken is not one of this service\'s')
  }
}

/** Whether the Observations are asked newest first; anything but phenomenonTime/resultTime ordering is a 501. */
function isDescending (options: QueryOptions): boolean {
  if (options.orderby.length === 0) return false
  const [key, ...rest] = options.orderby
  const segments = key?.expr.type === 'path' ? key.expr.segments : []
  if (rest.length > 0 || segments.length !== 1 || !TIME_PROPERTIES.has(segments[0] as string)) {
    throw notImplemented(`$orderby=${options.orderby.map(function textOf (k) { return k.text }).join(',')} on Observations (only phenomenonTime or resultTime, asc or desc)`)
  }
  return key?.descending === true
}

export async function queryObservations (reader: ObservationReader | undefined, model: RegistryModel, source: ObservationSource, options: QueryOptions, nowMs: number, budget?: { left: number }): Promise<ObservationPage> {
  if (reader === undefined) throw new StaError(503, 'INFLUX_URL is not set: no stored Observations')
  const top = Math.min(options.top ?? DEFAULT_TOP, MAX_TOP)
  const skip = options.skip ?? 0
  if (skip > MAX_OBSERVATION_SKIP) throw new StaError(400, `$skip above ${MAX_OBSERVATION_SKIP} on Observations: follow @iot.nextLink instead`)
  const descending = isDescending(options)

  const single = source.kind === 'datastream' ? { name: source.field, type: source.device.kind.fieldTypes[source.field] ?? 'float' } : undefined
  const plan = planOf(options.filter, nowMs, single)
  let fromMs: number
  let toMs: number
  let after: Cursor | undefined
  if (options.skiptoken !== undefined) {
    const token = decodeToken(options.skiptoken)
    if (token.d !== descending) throw new StaError(400, '$skiptoken belongs to the other $orderby direction')
    fromMs = token.f
    toMs = token.u
    after = { tsMs: token.t, id: token.i }
  } else {
    toMs = plan.toMs ?? nowMs + MAX_FUTURE_MS
    fromMs = plan.fromMs ?? toMs - DEFAULT_WINDOW_MS
    if (plan.toMs === undefined && plan.fromMs !== undefined) toMs = Math.max(toMs, fromMs)
  }
  if (toMs - fromMs > MAX_WINDOW_MS) throw new StaError(400, `the phenomenonTime range of the $filter spans more than ${MAX_WINDOW_MS / 86_400_000} days: narrow it`)

  // Readings count for the district they were recorded in: a device that moved into the caller's
  // districts does not bring the readings of its former one along.
  const districts = model.scope?.districts
  let series: ObservationSeries[]
  if (source.kind === 'datastream') series = [{ kind: source.device.kind, deviceId: source.device.id, districts, fields: [source.field], where: plan.where }]
  else if (source.kind === 'feature') series = [{ kind: source.device.kind, deviceId: source.device.id, districts, fields: source.device.fields }]
  else {
    series = model.list('Sensors').map(function kindOf (sensor) { return getKind(sensor.id) as DeviceKind }).map(function allOfKind (kind) {
      return { kind, districts, fields: kind.fieldNames.filter(function seen (f) { return model.scope?.fields === undefined || model.scope.fields.includes(f) }) }
    })
  }

  const filter = options.filter
  const page = await reader.readPage({
    series,
    fromMs,
    toMs,
    descending,
    after,
    limit: skip + top + 1,
    budget,
    accept (row) {
      const device = model.device(row.deviceId)
      if (device === undefined || !device.fields.includes(row.field)) return false
      if (filter === undefined) return true
      const entity = observationEntity(row)
      return matches(filter, { nowMs, resolve (segments) { return resolvePath(entity, segments, model) } })
    },
  })
  const shown = page.rows.slice(skip, skip + top)
  let next: Cursor | undefined
  if (page.rows.length > skip + top) next = top === 0 ? undefined : shown.at(-1)
  // The request read as many rows as it may before the page filled: continue after what was read.
  else if (page.next !== undefined) next = page.next

  const result: ObservationPage = { entities: shown.map(function entityOf (row) { return observationEntity(row) }) }
  if (next !== undefined) result.nextToken = encodeToken({ tsMs: next.tsMs, id: next.id }, fromMs, toMs, descending)
  if (options.count === true) {
    if (source.kind === 'all') throw notImplemented('$count on all Observations (ask a Datastream\'s or a FeatureOfInterest\'s)')
    if (!plan.exact) throw notImplemented('$count on Observations with a $filter beyond phenomenonTime, resultTime and result comparisons')
    result.count = await reader.count(series, fromMs, toMs)
  }
  return result
}
