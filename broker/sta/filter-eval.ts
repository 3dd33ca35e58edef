// An expression tree (odata-filter.ts) and one entity in; its value out: a boolean for $filter,
// any comparable value for $orderby. Property paths go through the caller's resolver (to-one
// navigation, properties/…), so the scope-filtered entity is all an expression can ever see.
import { distance, equals, intersects, length, within, asGeometry } from './geometry.ts'
import type { Expr } from './odata-filter.ts'
import { notImplemented, StaError } from './sta-error.ts'
import type { Geometry } from './wkt.ts'

/** An instant (a date-time literal, now(), a date-time property converted for comparison). */
export interface Instant { readonly ms: number }
/** A calendar date (a date literal, date()). */
export interface CalendarDate { readonly date: string }
export type Value = string | number | boolean | null | Instant | CalendarDate | Geometry | Record<string, unknown> | unknown[]

export interface EvalContext {
  /** The value at a property path of the entity; null when the entity has no such value. */
  resolve(segments: readonly string[]): unknown
  nowMs: number
}

const MIN_DATETIME_MS = Date.parse('0001-01-01T00:00:00Z')
const MAX_DATETIME_MS = Date.parse('9999-12-31T23:59:59.999Z')

function isInstant (v: unknown): v is Instant {
  return typeof v === 'object' && v !== null && 'ms' in v && Object.keys(v).length === 1
}
function isCalendarDate (v: unknown): v is CalendarDate {
  return typeof v === 'object' && v !== null && 'date' in v && Object.keys(v).length === 1
}

/** Whether the entity passes the filter: only a value of exactly true does. */
export function matches (expr: Expr, ctx: EvalContext): boolean {
  return evaluate(expr, ctx) === true
}

export function evaluate (expr: Expr, ctx: EvalContext): Value {
  switch (expr.type) {
    case 'literal': return expr.value
    case 'datetime': return { ms: expr.ms }
    case 'date': return { date: expr.text }
    case 'geography': return expr.geometry
    case 'path': return (ctx.resolve(expr.segments) ?? null) as Value
    case 'not': {
      const v = evaluate(expr.operand, ctx)
      return v === null ? null : v !== true
    }
    case 'logical': {
      const left = evaluate(expr.left, ctx) === true
      if (expr.op === 'and') return left && evaluate(expr.right, ctx) === true
      return left || evaluate(expr.right, ctx) === true
    }
    case 'compare': return compare(expr.op, evaluate(expr.left, ctx), evaluate(expr.right, ctx))
    case 'arith': return arithmetic(expr.op, evaluate(expr.left, ctx), evaluate(expr.right, ctx))
    case 'call': return call(expr.name, expr.args.map(function argument (arg) { return evaluate(arg, ctx) }), ctx)
  }
}

/** Orders two values for $orderby: null first, then by type-consistent comparison. */
export function orderValues (a: Value, b: Value): number {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : -1
  if (b === null || b === undefined) return 1
  const order = ordering(a, b)
  if (order !== undefined) return order
  return JSON.stringify(a).localeCompare(JSON.stringify(b))
}

function instantOf (v: Value): number | undefined {
  if (isInstant(v)) return v.ms
  if (isCalendarDate(v)) return Date.parse(`${v.date}T00:00:00Z`)
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) {
    // An interval "start/end" compares by its start.
    const ms = Date.parse(v.split('/')[0] as string)
    return Number.isNaN(ms) ? undefined : ms
  }
  return undefined
}

/** Comparison of two non-null values of compatible types; undefined when they are not comparable. */
function ordering (a: Value, b: Value): number | undefined {
  if (isCalendarDate(a) && isCalendarDate(b)) return a.date.localeCompare(b.date)
  if (isCalendarDate(a) && typeof b === 'string') return a.date.localeCompare(b.slice(0, 10))
  if (isCalendarDate(b) && typeof a === 'string') return a.slice(0, 10).localeCompare(b.date)
  if (isInstant(a) || isInstant(b) || isCalendarDate(a) || isCalendarDate(b)) {
    const x = instantOf(a)
    const y = instantOf(b)
    return x === undefined || y === undefined ? undefined : Math.sign(x - y)
  }
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b)
  if (typeof a === 'string' && typeof b === 'string') {
    const x = instantOf(a)
    const y = instantOf(b)
    if (x !== undefined && y !== undefined) return Math.sign(x - y)
    return a < b ? -1 : a > b ? 1 : 0
  }
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b)
  return undefined
}

function compare (op: string, a: Value, b: Value): boolean {
  if (a === null || b === null) {
    if (op === 'eq') return a === b
    if (op === 'ne') return a !== b
    return false
  }
  if (asGeometry(a) !== undefined && asGeometry(b) !== undefined && (op === 'eq' || op === 'ne')) {
    return equals(a as Geometry, b as Geometry) === (op === 'eq')
  }
  const order = ordering(a, b)
  // Values of different types are never equal nor ordered (a boolean Datastream's results are not `gt 5`).
  if (order === undefined) return op === 'ne'
  switch (op) {
    case 'eq': return order === 0
    case 'ne': return order !== 0
    case 'gt': return order > 0
    case 'ge': return order >= 0
    case 'lt': return order < 0
    default: return order <= 0
  }
}

function arithmetic (op: string, a: Value, b: Value): Value {
  if (a === null || b === null) return null
  if (typeof a !== 'number' || typeof b !== 'number') {
    if (isInstant(a) || isInstant(b)) throw notImplemented('date-time arithmetic (durations)')
    return null
  }
  switch (op) {
    case 'add': return a + b
    case 'sub': return a - b
    case 'mul': return a * b
    case 'div': return b === 0 ? null : a / b
    default: return b === 0 ? null : a % b
  }
}

function text (v: Value, name: string): string | null {
  if (v === null) return null
  if (typeof v !== 'string') throw new StaError(400, `${name}() takes a string`)
  return v
}
function num (v: Value, name: string): number | null {
  if (v === null) return null
  if (typeof v !== 'number') throw new StaError(400, `${name}() takes a number`)
  return v
}
function instant (v: Value, name: string): Date | null {
  if (v === null) return null
  const ms = instantOf(v)
  if (ms === undefined) throw new StaError(400, `${name}() takes a date-time`)
  return new Date(ms)
}
function geometry (v: Value, name: string): Geometry | null {
  if (v === null) return null
  const g = asGeometry(v)
  if (g === undefined) throw new StaError(400, `${name}() takes a geometry`)
  return g
}

function call (name: string, args: Value[], ctx: EvalContext): Value {
  const [a = null, b = null, c = null] = args
  switch (name) {
    case 'substringof': { const s = text(a, name); const t = text(b, name); return s === null || t === null ? null : t.includes(s) }
    case 'contains': { const s = text(a, name); const t = text(b, name); return s === null || t === null ? null : s.includes(t) }
    case 'startswith': { const s = text(a, name); const t = text(b, name); return s === null || t === null ? null : s.startsWith(t) }
    case 'endswith': { const s = text(a, name); const t = text(b, name); return s === null || t === null ? null : s.endsWith(t) }
    case 'length': { const s = text(a, name); return s === null ? null : s.length }
    case 'indexof': { const s = text(a, name); const t = text(b, name); return s === null || t === null ? null : s.indexOf(t) }
    case 'substring': {
      const s = text(a, name)
      const from = num(b, name)
      if (s === null || from === null) return null
      const count = args.length > 2 ? num(c, name) : undefined
      if (count === null) return null
      return count === undefined ? s.slice(from) : s.slice(from, from + count)
    }
    case 'tolower': { const s = text(a, name); return s === null ? null : s.toLowerCase() }
    case 'toupper': { const s = text(a, name); return s === null ? null : s.toUpperCase() }
    case 'trim': { const s = text(a, name); return s === null ? null : s.trim() }
    case 'concat': { const s = text(a, name); const t = text(b, name); return s === null || t === null ? null : s + t }
    case 'year': { const d = instant(a, name); return d === null ? null : d.getUTCFullYear() }
    case 'month': { const d = instant(a, name); return d === null ? null : d.getUTCMonth() + 1 }
    case 'day': { const d = instant(a, name); return d === null ? null : d.getUTCDate() }
    case 'hour': { const d = instant(a, name); return d === null ? null : d.getUTCHours() }
    case 'minute': { const d = instant(a, name); return d === null ? null : d.getUTCMinutes() }
    case 'second': { const d = instant(a, name); return d === null ? null : d.getUTCSeconds() }
    case 'fractionalseconds': { const d = instant(a, name); return d === null ? null : d.getUTCMilliseconds() / 1000 }
    case 'date': { const d = instant(a, name); return d === null ? null : { date: d.toISOString().slice(0, 10) } }
    case 'time': { const d = instant(a, name); return d === null ? null : d.toISOString().slice(11, 23) }
    // Every date-time this service holds is in UTC.
    case 'totaloffsetminutes': { const d = instant(a, name); return d === null ? null : 0 }
    case 'now': return { ms: ctx.nowMs }
    case 'mindatetime': return { ms: MIN_DATETIME_MS }
    case 'maxdatetime': return { ms: MAX_DATETIME_MS }
    // OData rounds a mid-point away from zero (-2.5 → -3); Math.round would give -2.
    case 'round': { const n = num(a, name); return n === null ? null : Math.sign(n) * Math.round(Math.abs(n)) }
    case 'floor': { const n = num(a, name); return n === null ? null : Math.floor(n) }
    case 'ceiling': { const n = num(a, name); return n === null ? null : Math.ceil(n) }
    case 'geo.distance': { const g = geometry(a, name); const h = geometry(b, name); return g === null || h === null ? null : distance(g, h) }
    case 'geo.length': { const g = geometry(a, name); return g === null ? null : length(g) }
    case 'geo.intersects':
    case 'st_intersects': { const g = geometry(a, name); const h = geometry(b, name); return g === null || h === null ? null : intersects(g, h) }
    case 'st_disjoint': { const g = geometry(a, name); const h = geometry(b, name); return g === null || h === null ? null : !intersects(g, h) }
    case 'st_within': { const g = geometry(a, name); const h = geometry(b, name); return g === null || h === null ? null : within(g, h) }
    case 'st_contains': { const g = geometry(a, name); const h = geometry(b, name); return g === null || h === null ? null : within(h, g) }
    case 'st_equals': { const g = geometry(a, name); const h = geometry(b, name); return g === null || h === null ? null : equals(g, h) }
    default: throw notImplemented(`function ${name}()`)
  }
}
