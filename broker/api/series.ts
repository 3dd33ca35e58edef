// Recent values of one field of one device, for the console's chart: one InfluxQL statement
// (influxql.ts), averaged into at most MAX_POINTS buckets. Identifiers come from the registry and
// the kind's field list, and are checked again by the query client.
import { createInfluxQlClient, identifier, InfluxQlError, quoted, type InfluxQlClient, type InfluxQlOptions } from './influxql.ts'

export type SeriesOptions = InfluxQlOptions

export interface SeriesQuery { measurement: string; deviceId: string; field: string; minutes: number }
export interface Series { bucketSec: number; points: { t: number; v: number }[] }

export interface SeriesReader { read(query: SeriesQuery): Promise<Series> }

/** InfluxDB could not answer; the API turns it into 502 with this message. */
export const SeriesError = InfluxQlError
export type SeriesError = InfluxQlError

const MAX_POINTS = 240

/** Reads series through `client`, or through a client of its own made from connection options. */
export function createSeriesReader (options: SeriesOptions | InfluxQlClient): SeriesReader {
  const client = 'query' in options ? options : createInfluxQlClient(options)
  return {
    async read (query) {
      const bucketSec = Math.max(1, Math.ceil((query.minutes * 60) / MAX_POINTS))
      // LIMIT: a range not aligned to the buckets touches one bucket more than MAX_POINTS.
      const influxql = `SELECT mean(${identifier(query.field)}) FROM ${identifier(query.measurement)} WHERE "device_id" = ${quoted(query.deviceId)} ` +
        `AND time > now() - ${Math.trunc(query.minutes)}m GROUP BY time(${bucketSec}s) fill(none) LIMIT ${MAX_POINTS + 1}`
      const points: Series['points'] = []
      for (const row of (await client.query(influxql))[0]?.values ?? []) {
        const [t, v] = row
        if (typeof t === 'number' && typeof v === 'number') points.push({ t, v })
      }
      return { bucketSec, points }
    },
  }
}
