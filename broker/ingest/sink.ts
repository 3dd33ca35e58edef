// The storage stage's interface: lines of InfluxDB line protocol (ms precision) → a database.
// write() resolves only once the server accepted every line; it rejects with a SinkError whose
// code classifies the failure (CSG_SINK_RETRYABLE / CSG_SINK_REFUSED / CSG_SINK_UNAUTHORIZED).
import type { Logger } from 'pino'
import { createInfluxV1Sink } from './sink-influx-v1.ts'
import { createInfluxV2Sink } from './sink-influx-v2.ts'

export { SinkError, classifySinkFailure } from './sink-http.ts'

export interface Sink {
  /** For logs and metrics, e.g. 'influx-v2'. */
  readonly name: string
  /**
   * Resolves once the server accepted all lines. Rejects with a SinkError:
   * CSG_SINK_RETRYABLE (network, timeout, 404, 408, 429, 5xx; `retryAfterMs` when the server
   * sent Retry-After), CSG_SINK_REFUSED (other 4xx, with the server's message: bad line, type
   * conflict, too large) or CSG_SINK_UNAUTHORIZED (401/403). Writing the same lines twice is
   * harmless: InfluxDB overwrites a point with the same series and timestamp.
   */
  write(lines: readonly string[]): Promise<void>
  /** True when the server answers its ping endpoint with 2xx; never throws. */
  ping(): Promise<boolean>
  /** Aborts requests in flight and frees sockets. */
  close(): Promise<void>
}

export interface SinkConfig {
  /** 'v2': POST /api/v2/write (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics); 'v1': POST /write (InfluxDB 1.x). */
  api: 'v1' | 'v2'
  /** Base URL, e.g. http://influx:8086 (a path prefix is kept, e.g. behind a proxy). */
  url: string
  /** v2: sent as `Authorization: Token …` (InfluxDB 1.8 compatibility: `user:password`). */
  token?: string | undefined
  /** v2: organization name or id; omitted from the request when unset (1.8, 3.x, VictoriaMetrics). */
  org?: string | undefined
  /** v2: bucket (InfluxDB 1.8: `database/retention-policy`). */
  bucket: string
  /** v1: database. */
  database: string
  /** v1: basic-auth user and password; the password is never logged. */
  username?: string | undefined
  password?: string | undefined
  /** v1: retention policy; the database's default when unset. */
  retentionPolicy?: string | undefined
  /** Deadline of one HTTP request, ms (INFLUX_TIMEOUT_MS, default 10000). */
  timeoutMs: number
  log: Logger
}

/** Chooses the implementation for `config.api`. */
export function createSink (config: SinkConfig): Sink {
  if (config.api === 'v1') {
    return createInfluxV1Sink({
      url: config.url,
      database: config.database,
      username: config.username,
      password: config.password,
      retentionPolicy: config.retentionPolicy,
      timeoutMs: config.timeoutMs,
      log: config.log,
    })
  }
  return createInfluxV2Sink({
    url: config.url,
    token: config.token,
    org: config.org,
    bucket: config.bucket,
    timeoutMs: config.timeoutMs,
    log: config.log,
  })
}
