// Keyset paging of Observations against an in-memory stand-in for InfluxDB that answers the
// reader's statements (time range, device, ORDER BY time, LIMIT) with ties across series in
// random order. Property: whatever the page size, batch size, scan bound, request budget, direction and filter,
// following the cursors yields every accepted reading exactly once, in (time, id) order.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { InfluxQlClient, InfluxQlSeries } from '../../../broker/api/influxql.ts'
import { getKind, type DeviceKind } from '../../../devices/index.ts'
import { createObservationReader, type Cursor, type ObservationRow, type ReaderLimits } from '../../../broker/sta/observation-reader.ts'
import { observationId } from '../../../broker/sta/ids.ts'

interface Point { ts: number; device: string; values: Record<string, number | undefined> }

/** Answers `SELECT "a","b","device_id" FROM … WHERE time … [AND "device_id" = '…'] ORDER BY time ASC|DESC LIMIT n`. */
function memoryInflux (points: readonly Point[], tieOrder: (a: Point, b: Point) => number): InfluxQlClient & { statements: number } {
  const client = {
    statements: 0,
    query (influxql: string): Promise<InfluxQlSeries[]> {
      client.statements++
      const fields = [...(/^SELECT (.*) FROM/.exec(influxql)?.[1] ?? '').matchAll(/"(\w+)"/g)].map((m) => m[1] as string).filter((f) => f !== 'device_id')
      const conditions = [...influxql.matchAll(/time (>=|>|<=|<|=) (-?\d+)ms/g)].map((m) => ({ op: m[1] as string, ms: Number(m[2]) }))
      const device = /"device_id" = '([^']+)'/.exec(influxql)?.[1]
      const descending = /ORDER BY time DESC/.test(influxql)
      const limit = Number(/LIMIT (\d+)/.exec(influxql)?.[1])
      const selected = points
        .filter((p) => device === undefined || p.device === device)
        .filter((p) => fields.some((f) => p.values[f] !== undefined))
        .filter((p) => conditions.every(({ op, ms }) => op === '>=' ? p.ts >= ms : op === '>' ? p.ts > ms : op === '<=' ? p.ts <= ms : op === '<' ? p.ts < ms : p.ts === ms))
        .sort((a, b) => (descending ? b.ts - a.ts : a.ts - b.ts) || tieOrder(a, b))
        .slice(0, limit)
      return Promise.resolve([{ columns: ['time', ...fields, 'device_id'], values: selected.map((p) => [p.ts, ...fields.map((f) => p.values[f] ?? null), p.device]) }])
    },
  }
  return client
}

const kind = getKind('water-pipe') as DeviceKind
const FIELDS = ['pressure', 'flowRate']

async function pageAll (influx: InfluxQlClient, limits: Partial<ReaderLimits>, pageSize: number, descending: boolean, accept: (row: ObservationRow) => boolean, budget = Infinity): Promise<string[]> {
  const reader = createObservationReader(influx, limits)
  const ids: string[] = []
  let after: Cursor | undefined
  for (let pages = 0; pages < 2000; pages++) {
    const page = await reader.readPage({ series: [{ kind, fields: FIELDS }], fromMs: 0, toMs: 100, descending, after, limit: pageSize + 1, accept, budget: { left: budget } })
    const shown = page.rows.slice(0, pageSize)
    ids.push(...shown.map((r) => r.id))
    // As observation-query.ts: a full page continues after its last row, a short one where the reader stopped.
    after = page.rows.length > pageSize ? shown.at(-1) : page.next
    if (after === undefined) return ids
  }
  throw new Error('paging did not end')
}

describe('observation reader paging', () => {
  it('yields every accepted reading exactly once, in order, whatever the limits', async () => {
    const point = fc.record({
      ts: fc.integer({ min: 0, max: 12 }),
      device: fc.constantFrom('d1', 'd2', 'd3', 'd4'),
      values: fc.record({ pressure: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }), flowRate: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }) }),
    })
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(point, { selector: (p) => `${p.ts}|${p.device}`, maxLength: 40 }),
      fc.integer({ min: 1, max: 7 }),
      fc.record({ batchRows: fc.integer({ min: 1, max: 6 }), maxScanRows: fc.integer({ min: 1, max: 25 }) }),
      fc.boolean(),
      fc.integer({ min: 1, max: 4 }),
      fc.boolean(),
      fc.oneof(fc.constant(Infinity), fc.integer({ min: 1, max: 30 })),
      async (generated, pageSize, limits, descending, modulus, reverseTies, budget) => {
        const points: Point[] = generated
        const accept = (row: ObservationRow): boolean => (row.tsMs + row.field.length + Number(row.deviceId.slice(1)) + Number(row.result)) % modulus !== 0 || modulus === 1
        const influx = memoryInflux(points, (a, b) => (reverseTies ? -1 : 1) * a.device.localeCompare(b.device))
        const expected = points
          .flatMap((p) => FIELDS.filter((f) => p.values[f] !== undefined).map((f) => ({ deviceId: p.device, field: f, tsMs: p.ts, result: p.values[f] as number, id: observationId(p.device, f, p.ts) })))
          .filter(accept)
          .sort((a, b) => (a.tsMs - b.tsMs || (a.id < b.id ? -1 : 1)) * (descending ? -1 : 1))
          .map((r) => r.id)
        expect(await pageAll(influx, { ...limits, maxRowsAtOneInstant: 100 }, pageSize, descending, accept, budget)).toEqual(expected)
      },
    ), { numRuns: 300 })
  })

  it('reads no more than the scan bound per request, and continues after it', async () => {
    const points: Point[] = Array.from({ length: 50 }, (_, i) => ({ ts: i, device: 'd1', values: { pressure: i } }))
    const influx = memoryInflux(points, () => 0)
    const reader = createObservationReader(influx, { batchRows: 5, maxScanRows: 10 })
    // Nothing accepted before 40: each request stops after about 10 points with a cursor.
    const page = await reader.readPage({ series: [{ kind, fields: FIELDS }], fromMs: 0, toMs: 100, descending: false, limit: 3, accept: (r) => r.tsMs >= 40 })
    expect(page.rows).toEqual([])
    expect(page.next?.tsMs).toBeLessThan(15)
    expect(influx.statements).toBeLessThanOrEqual(6)
  })
})
