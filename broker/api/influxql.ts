// InfluxQL over HTTP for the API's reads (`/query`: InfluxDB 1.x with INFLUX_API=v1; the
// v1-compatible endpoint of 2.x, 3.x and 1.8 with a token for v2). One place for the credentials,
// the deadline, the size of what is read back, and how names and values enter a statement: an
// identifier must be SAFE_NAME (registry ids and districts are), a tag or string value is quoted
// and escaped, and every statement the API builds has a bounded time range and a LIMIT.
import { z } from 'zod'
import { basicAuthorization } from '../influx/basic-auth.ts'

export interface InfluxQlOptions {
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

/** One series of a statement's result: column names and rows, times as epoch ms. */
export interface InfluxQlSeries {
  columns: string[]
  values: unknown[][]
}

export interface InfluxQlClient {
  /**
   * Runs one statement and returns its series; a database or measurement without any point yet
   * is an empty result, not a failure. Throws InfluxQlError when InfluxDB cannot answer.
   */
  query(influxql: string): Promise<InfluxQlSeries[]>
}

/** InfluxDB could not answer (unreachable, timeout, refused, an error in the answer, an answer too large). */
export class InfluxQlError extends Error {
  override name = 'InfluxQlError'
}

/** Names that may appear in a statement unquoted by the caller: device ids, districts, fields, alarm ids. */
export const SAFE_NAME = /^[A-Za-z0-9._-]{1,64}$/

/** Most bytes read from one answer; every statement has a LIMIT, so only a misbehaving server reaches it. */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024

/** `"name"` for a SAFE_NAME; throws InfluxQlError for anything else. */
export function identifier (name: string): string {
  if (!SAFE_NAME.test(name)) throw new InfluxQlError(`unsafe identifier ${name}`)
  return `"${name}"`
}

/** A string as an InfluxQL single-quoted literal (tag values, string fields): `\` and `'` escaped. */
export function quoted (value: string): string {
  return `'${value.replace(/[\\']/g, (ch) => `\\${ch}`)}'`
}

const answerSchema = z.object({
  error: z.string().optional(),
  results: z.array(z.object({
    error: z.string().optional(),
    series: z.array(z.object({ columns: z.array(z.string()), values: z.array(z.array(z.unknown())).optional() })).optional(),
  })).optional(),
})

export function createInfluxQlClient (options: InfluxQlOptions): InfluxQlClient {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (options.api === 'v2' && options.token !== undefined) headers.authorization = `Token ${options.token}`
  if (options.api === 'v1' && options.username !== undefined) headers.authorization = basicAuthorization(options.username, options.password)
  const base = new URL('query', options.url.endsWith('/') ? options.url : `${options.url}/`)

  return {
    async query (influxql) {
      const url = new URL(base)
      url.searchParams.set('db', options.api === 'v1' ? options.database : options.bucket)
      if (options.api === 'v1' && options.retentionPolicy !== undefined) url.searchParams.set('rp', options.retentionPolicy)
      url.searchParams.set('epoch', 'ms')
      url.searchParams.set('q', influxql)
      let text: string
      let response: Response
      try {
        response = await fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs) })
        text = await readBounded(response, MAX_ANSWER_BYTES)
      } catch (err) {
        if (err instanceof InfluxQlError) throw err
        throw new InfluxQlError(`InfluxDB unreachable: ${(err as Error).message}`, { cause: err })
      }
      if (!response.ok) throw new InfluxQlError(`InfluxDB answered ${response.status}: ${text.slice(0, 200)}`)
      let parsed: z.infer<typeof answerSchema>
      try {
        parsed = answerSchema.parse(JSON.parse(text))
      } catch (err) {
        throw new InfluxQlError(`InfluxDB answered something other than a query result: ${(err as Error).message.slice(0, 200)}`, { cause: err })
      }
      const result = parsed.results?.[0]
      const error = parsed.error ?? result?.error
      if (error !== undefined && !/not found/i.test(error)) throw new InfluxQlError(`InfluxDB: ${error}`)
      return (result?.series ?? []).map(function series (s) { return { columns: s.columns, values: s.values ?? [] } })
    },
  }
}

/** The body as text, refusing (InfluxQlError) once more than `maxBytes` arrived. */
async function readBounded (response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return ''
  const declared = Number(response.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body.cancel()
    throw new InfluxQlError(`InfluxDB's answer is larger than ${maxBytes} bytes`)
  }
  const decoder = new TextDecoder()
  let text = ''
  let bytes = 0
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength
    if (bytes > maxBytes) throw new InfluxQlError(`InfluxDB's answer is larger than ${maxBytes} bytes`)
    text += decoder.decode(chunk, { stream: true })
  }
  return text + decoder.decode()
}

/** The rows of a statement's series as objects keyed by column name (`time` included). */
export function rowsOf (series: readonly InfluxQlSeries[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = []
  for (const s of series) {
    for (const values of s.values) {
      const row: Record<string, unknown> = {}
      s.columns.forEach(function put (column, index) { row[column] = values[index] })
      rows.push(row)
    }
  }
  return rows
}
