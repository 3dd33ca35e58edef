// The storage stage's interface: lines of InfluxDB line protocol (ms precision) → a database.
// write() resolves only once the server accepted every line; it rejects with a SinkError whose
// code classifies the failure (CSG_SINK_RETRYABLE / CSG_SINK_REFUSED / CSG_SINK_UNAUTHORIZED).
import { createInfluxV1Sink, type InfluxV1SinkOptions } from './sink-influx-v1.ts'
import { createInfluxV2Sink, type InfluxV2SinkOptions } from './sink-influx-v2.ts'

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

/** What main.ts knows from the configuration: both implementations' options and which to use. */
export type SinkConfig = {
  /** 'v2': POST /api/v2/write (InfluxDB 2.x, 3.x, 1.8+, VictoriaMetrics); 'v1': POST /write (InfluxDB 1.x). */
  api: 'v1' | 'v2'
} & InfluxV1SinkOptions & InfluxV2SinkOptions

/** Chooses the implementation for `config.api`. */
export function createSink (config: SinkConfig): Sink {
  return config.api === 'v1' ? createInfluxV1Sink(config) : createInfluxV2Sink(config)
}
