// Recent values of one field of one device, for the console's chart: an InfluxQL query over HTTP
// (`/query`: InfluxDB 1.x with INFLUX_API=v1; the v1-compatible endpoint of 2.x, 3.x and 1.8 with a
// token for v2), averaged into at most MAX_POINTS buckets. Identifiers come from the registry and
// the kind's field list, never from the caller unchecked.
import { basicAuthorization } from '../influx/basic-auth.ts'

export interface SeriesOptions {
  api: 'v1' | 'v2'
  url: string
  timeoutMs: number
  /** v1: database, optional retention policy and basic credentials. */
  database: string
  retentionPolicy?: string | undefined
  username?: string | undefined
  password?: string | undefined
  /** v2: bucket (the compat endpoint's db) and token. */
  bucket: string
  token?: string | undefined
}

export interface SeriesQuery { measurement: string; deviceId: string; field: string; minutes: number }
export interface Series { bucketSec: number; points: { t: number; v: number }[] }

export interface SeriesReader { read(query: SeriesQuery): Promise<Series> }

/** InfluxDB could not answer; the API turns it into 502 with this message. */
export class SeriesError extends Error {
  override name = 'SeriesError'
}

const MAX_POINTS = 240
const SAFE_NAME = /^[A-Za-z0-9._-]{1,64}$/

interface QueryResponse {
  error?: string
  results?: { error?: string; series?: { values?: unknown[][] }[] }[]
}

export function createSeriesReader (options: SeriesOptions): SeriesReader {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (options.api === 'v2' && options.token !== undefined) headers.authorization = `Token ${options.token}`
  if (options.api === 'v1' && options.username !== undefined) headers.authorization = basicAuthorization(options.username, options.password)
  const base = new URL('query', options.url.endsWith('/') ? options.url : `${options.url}/`)

  return {
    async read (query) {
      for (const name of [query.measurement, query.deviceId, query.field]) {
        if (!SAFE_NAME.test(name)) throw new SeriesError(`unsafe identifier ${name}`)
      }
      const bucketSec = Math.max(1, Math.ceil((query.minutes * 60) / MAX_POINTS))
      const influxql = `SELECT mean("${query.field}") FROM "${query.measurement}" WHERE "device_id" = '${query.deviceId}' ` +
        `AND time > now() - ${query.minutes}m GROUP BY time(${bucketSec}s) fill(none)`
      const url = new URL(base)
      url.searchParams.set('db', options.api === 'v1' ? options.database : options.bucket)
      if (options.api === 'v1' && options.retentionPolicy !== undefined) url.searchParams.set('rp', options.retentionPolicy)
      url.searchParams.set('epoch', 'ms')
      url.searchParams.set('q', influxql)
      let response: Response
      try {
        response = await fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs) })
      } catch (err) {
        throw new SeriesError(`InfluxDB unreachable: ${(err as Error).message}`, { cause: err })
      }
      const text = await response.text()
      if (!response.ok) throw new SeriesError(`InfluxDB answered ${response.status}: ${text.slice(0, 200)}`)
      const body = JSON.parse(text) as QueryResponse
      const result = body.results?.[0]
      const error = body.error ?? result?.error
      // A database without any point of that measurement yet is an empty series, not a failure.
      if (error !== undefined && !/not found/i.test(error)) throw new SeriesError(`InfluxDB: ${error}`)
      const points: Series['points'] = []
      for (const row of result?.series?.[0]?.values ?? []) {
        const [t, v] = row
        if (typeof t === 'number' && typeof v === 'number') points.push({ t, v })
      }
      return { bucketSec, points }
    },
  }
}
