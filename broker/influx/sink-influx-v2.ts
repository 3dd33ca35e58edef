// Sink for the v2 write API: lines → POST /api/v2/write?org=&bucket=&precision=ms with
// `Authorization: Token …` (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics). Resolves only on 2xx;
// failures reject classified (see sink-http.ts).
import type { Logger } from 'pino'
import type { Sink } from './sink.ts'
import { createHttpSink, createInfluxHttp } from './sink-http.ts'

export interface InfluxV2SinkOptions {
  url: string
  /** Sent as `Authorization: Token …` (InfluxDB 1.8 compatibility: `user:password`). */
  token?: string | undefined
  /** Organization name or id; omitted from the query when unset (1.8, 3.x, VictoriaMetrics). */
  org?: string | undefined
  /** InfluxDB 1.8: `database/retention-policy`. */
  bucket: string
  timeoutMs: number
  log: Logger
}

export function createInfluxV2Sink (options: InfluxV2SinkOptions): Sink {
  const log = options.log.child({ module: 'sink', sink: 'influx-v2' })
  const http = createInfluxHttp({ url: options.url, token: options.token, timeoutMs: options.timeoutMs, log })
  const query = new URLSearchParams({ bucket: options.bucket, precision: 'ms' })
  if (options.org !== undefined) query.set('org', options.org)
  const writePath = `/api/v2/write?${query.toString()}`

  return createHttpSink('influx-v2', http, writePath)
}
