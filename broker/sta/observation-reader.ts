// One page of Observations from InfluxDB: series (a kind's measurement, one device or some
// districts, some fields), a phenomenonTime window, a direction and a keyset cursor in; at most
// `limit` accepted readings out, in (time, id) order, with where the next page starts. Every
// statement has the window and a LIMIT; a request reads at most `maxScanRows` points.
import { identifier, quoted, rowsOf, type InfluxQlClient } from '../api/influxql.ts'
import type { DeviceKind } from '../../devices/index.ts'
import { observationId } from './ids.ts'
import { notImplemented } from './sta-error.ts'

export interface ObservationSeries {
  kind: DeviceKind
  /** One device; absent = every device of `districts`. */
  deviceId?: string | undefined
  /**
   * Districts whose readings to read (by the district each reading was recorded in); absent = all.
   * Also with `deviceId`: a device that moved keeps the readings of its former district there.
   */
  districts?: readonly string[] | undefined
  fields: readonly string[]
  /** Extra InfluxQL conditions (result comparisons), only for a single field. */
  where?: readonly string[] | undefined
}

export interface ObservationRow {
  deviceId: string
  field: string
  tsMs: number
  result: number | boolean
  id: string
}

/** Where a page ends: everything at or before (ascending) `tsMs` up to `id` was read. */
export interface Cursor { tsMs: number; id: string }

export interface PageRequest {
  series: readonly ObservationSeries[]
  fromMs: number
  toMs: number
  descending: boolean
  after?: Cursor | undefined
  /** Accepted rows wanted; one more than the page size tells whether there is a next page. */
  limit: number
  /** Whether a row belongs to the answer (visibility, the part of $filter InfluxDB did not apply). */
  accept(row: ObservationRow): boolean
  /** Readings the whole HTTP request may still read, shared by its reads (expands); decremented here. */
  budget?: { left: number } | undefined
}

export interface PageResult {
  rows: ObservationRow[]
  /** Where to continue; undefined when the window holds nothing more. */
  next: Cursor | undefined
}

export interface ReaderLimits {
  /** Points one statement reads at most. Default 1000. */
  batchRows: number
  /** Points one request reads at most; a page that is not full by then ends with a next link. Default 20,000. */
  maxScanRows: number
  /** Points at one instant (per series) read at most; more is a 501. Default 10,000. */
  maxRowsAtOneInstant: number
}

export const READER_DEFAULTS: ReaderLimits = { batchRows: 1000, maxScanRows: 20_000, maxRowsAtOneInstant: 10_000 }

function districtCondition (districts: readonly string[]): string {
  return `(${districts.map(function inDistrict (d) { return `"district" = ${quoted(d)}` }).join(' OR ')})`
}

/** A cursor id sorting after (ascending) or before (descending) every id: "this instant was read entirely". */
function endOfInstant (descending: boolean): string {
  return descending ? '' : '~'
}

export function createObservationReader (influx: InfluxQlClient, limits: Partial<ReaderLimits> = {}) {
  const { batchRows: BATCH_ROWS, maxScanRows: MAX_SCAN_ROWS, maxRowsAtOneInstant: MAX_ROWS_AT_ONE_INSTANT } = { ...READER_DEFAULTS, ...limits }
  function statement (series: ObservationSeries, timeClause: string, descending: boolean, limit: number): string {
    const where = [timeClause]
    if (series.deviceId !== undefined) where.push(`"device_id" = ${quoted(series.deviceId)}`)
    if (series.districts !== undefined) where.push(districtCondition(series.districts))
    where.push(...series.where ?? [])
    const columns = [...series.fields.map(identifier), '"device_id"'].join(',')
    return `SELECT ${columns} FROM ${identifier(series.kind.measurement)} WHERE ${where.join(' AND ')} ORDER BY time ${descending ? 'DESC' : 'ASC'} LIMIT ${limit}`
  }

  /** The readings of up to `limit` points, and whether the LIMIT was reached. */
  async function readRows (series: ObservationSeries, timeClause: string, descending: boolean, limit: number): Promise<{ rows: ObservationRow[]; full: boolean }> {
    if (series.fields.length === 0 || series.districts?.length === 0) return { rows: [], full: false }
    const rows: ObservationRow[] = []
    const points = rowsOf(await influx.query(statement(series, timeClause, descending, limit)))
    for (const row of points) {
      const tsMs = row.time
      const deviceId = row.device_id
      if (typeof tsMs !== 'number' || typeof deviceId !== 'string') continue
      for (const field of series.fields) {
        const result = row[field]
        if (typeof result === 'number' || typeof result === 'boolean') rows.push({ deviceId, field, tsMs, result, id: observationId(deviceId, field, tsMs) })
      }
    }
    return { rows, full: points.length >= limit }
  }

  /** Readings of every series at exactly one instant (a batch cut through them by its LIMIT). */
  async function rowsAt (series: readonly ObservationSeries[], tsMs: number): Promise<ObservationRow[]> {
    const all: ObservationRow[] = []
    for (const s of series) {
      const { rows, full } = await readRows(s, `time = ${tsMs}ms`, false, MAX_ROWS_AT_ONE_INSTANT)
      if (full) throw notImplemented(`more than ${MAX_ROWS_AT_ONE_INSTANT} points at one instant`)
      all.push(...rows)
    }
    return all
  }

  return {
    async readPage (request: PageRequest): Promise<PageResult> {
      const { descending } = request
      const sign = descending ? -1 : 1
      function order (a: { tsMs: number; id: string }, b: { tsMs: number; id: string }): number {
        return sign * (a.tsMs - b.tsMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      }
      const accepted: ObservationRow[] = []
      let scanned = 0
      // A small page ($top=1 of an expand) reads small batches: the request's budget lasts.
      const batchRows = Math.min(BATCH_ROWS, Math.max(request.limit, 100))
      // The instant the next batch starts from, and whether that instant was already read entirely.
      let edgeMs = request.after?.tsMs ?? (descending ? request.toMs : request.fromMs)
      // A cursor that read its instant entirely starts past it: each request then makes progress
      // even when its scan bound ends it at the first instant it reads.
      let edgeDone = request.after?.id === endOfInstant(descending)
      for (;;) {
        if (descending ? edgeMs < request.fromMs : edgeMs > request.toMs) return { rows: accepted, next: undefined }
        const timeClause = descending
          ? `time >= ${request.fromMs}ms AND time ${edgeDone ? '<' : '<='} ${edgeMs}ms`
          : `time ${edgeDone ? '>' : '>='} ${edgeMs}ms AND time <= ${request.toMs}ms`
        let rows: ObservationRow[] = []
        // A batch that came back full ends where its LIMIT cut: read up to the earliest such end
        // (latest, descending), then the instant itself completely.
        let boundary: number | undefined
        for (const series of request.series) {
          const batch = await readRows(series, timeClause, descending, batchRows)
          rows.push(...batch.rows)
          const last = batch.rows.at(-1)
          if (last !== undefined && batch.full) {
            boundary = boundary === undefined ? last.tsMs : descending ? Math.max(boundary, last.tsMs) : Math.min(boundary, last.tsMs)
          }
        }
        scanned += rows.length
        if (request.budget !== undefined) request.budget.left -= rows.length
        if (boundary !== undefined) {
          const cut = boundary
          rows = rows.filter(function beforeBoundary (r) { return descending ? r.tsMs > cut : r.tsMs < cut })
          rows.push(...await rowsAt(request.series, cut))
        }
        rows.sort(order)
        const after = request.after
        for (const row of rows) {
          if (after !== undefined && order(row, after) <= 0) continue
          if (!request.accept(row)) continue
          accepted.push(row)
          if (accepted.length >= request.limit) return { rows: accepted, next: { tsMs: row.tsMs, id: row.id } }
        }
        if (boundary === undefined) return { rows: accepted, next: undefined }
        edgeMs = boundary
        edgeDone = true
        if (scanned >= MAX_SCAN_ROWS || (request.budget !== undefined && request.budget.left <= 0)) return { rows: accepted, next: { tsMs: boundary, id: endOfInstant(descending) } }
      }
    },

    /** How many readings the series hold in the window (the filter fully translated to InfluxQL). */
    async count (series: readonly ObservationSeries[], fromMs: number, toMs: number): Promise<number> {
      let total = 0
      for (const s of series) {
        if (s.fields.length === 0 || s.districts?.length === 0) continue
        const where = [`time >= ${fromMs}ms AND time <= ${toMs}ms`]
        if (s.deviceId !== undefined) where.push(`"device_id" = ${quoted(s.deviceId)}`)
        if (s.districts !== undefined) where.push(districtCondition(s.districts))
        where.push(...s.where ?? [])
        const columns = s.fields.map(function counted (f) { return `count(${identifier(f)}) AS ${identifier(f)}` }).join(',')
        for (const row of rowsOf(await influx.query(`SELECT ${columns} FROM ${identifier(s.kind.measurement)} WHERE ${where.join(' AND ')} LIMIT 1`))) {
          for (const f of s.fields) total += typeof row[f] === 'number' ? row[f] : 0
        }
      }
      return total
    },
  }

}

export type ObservationReader = ReturnType<typeof createObservationReader>
