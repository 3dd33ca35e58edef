// Sink for InfluxDB 1.x: lines → POST /write?db=&rp=&precision=ms, optional basic auth (the
// password travels only in the Authorization header, never in the URL or a log). Resolves only on
// 2xx; failures reject classified (see sink-http.ts). influxd answers a bad line or a field type
// conflict with 400 "partial write: …" after storing the other points; the writer's split copes.
import type { Logger } from 'pino'
import { basicAuthorization } from './basic-auth.ts'
import type { Sink } from './sink.ts'
import { createHttpSink, createInfluxHttp } from './sink-http.ts'

export interface InfluxV1SinkOptions {
  /** Base URL, e.g. http://influx:8086 (a path prefix is kept, e.g. behind a proxy). */
  url: string
  database: string
  /** Basic-auth user and password; the password is never logged. */
  username?: string | undefined
  password?: string | undefined
  /** The database's default when unset. */
  retentionPolicy?: string | undefined
  /** Deadline of one HTTP request, ms (INFLUX_TIMEOUT_MS, default 10000). */
  timeoutMs: number
  log: Logger
}

export function createInfluxV1Sink (options: InfluxV1SinkOptions): Sink {
  const log = options.log.child({ module: 'sink', sink: 'influx-v1', database: options.database })
  const headers: Record<string, string> = {}
  if (options.username !== undefined) headers.authorization = basicAuthorization(options.username, options.password)
  const http = createInfluxHttp({ url: options.url, headers, timeoutMs: options.timeoutMs, log })
  const query = new URLSearchParams({ db: options.database, precision: 'ms' })
  if (options.retentionPolicy !== undefined) query.set('rp', options.retentionPolicy)
  const writePath = `/write?${query.toString()}`

  return createHttpSink('influx-v1', http, writePath)
}
