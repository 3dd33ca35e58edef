// The storage stage's interface: lines of InfluxDB line protocol (ms precision) → a database.
// write() resolves only once the server accepted every line; it rejects with a SinkError whose
// code classifies the failure (CSG_SINK_RETRYABLE / CSG_SINK_REFUSED / CSG_SINK_UNAUTHORIZED).
// Implemented by sink-influx-v1.ts and sink-influx-v2.ts; create-sink.ts picks one.
import { GatewayError, type ErrorCode } from '../errors.ts'

export interface Sink {
  /** For logs and metrics, e.g. 'influx-v2'. */
  readonly name: string
  /**
   * Resolves once the server accepted all lines: given one by one, or as the body InfluxDB takes
   * (joined by '\n', UTF-8). Rejects with a SinkError:
   * CSG_SINK_RETRYABLE (network, timeout, 404, 408, 429, 5xx; `retryAfterMs` when the server
   * sent Retry-After), CSG_SINK_REFUSED (other 4xx, with the server's message: bad line, type
   * conflict, too large) or CSG_SINK_UNAUTHORIZED (401/403). Writing the same lines twice is
   * harmless: InfluxDB overwrites a point with the same series and timestamp.
   */
  write(lines: readonly string[] | Buffer): Promise<void>
  /** True when the server answers its ping endpoint with 2xx; never throws. */
  ping(): Promise<boolean>
  /** Aborts requests in flight and frees sockets. */
  close(): Promise<void>
}

/** A classified sink failure: a GatewayError (CSG_SINK_*) with what the server said. */
export class SinkError extends GatewayError {
  /** HTTP status, when the server answered. */
  readonly statusCode: number | undefined
  /** The server's Retry-After (ms), when it sent one. */
  readonly retryAfterMs: number | undefined

  constructor (code: ErrorCode, message: string, details: { statusCode?: number, retryAfterMs?: number, cause?: unknown }) {
    super(code, message, { cause: details.cause })
    this.name = 'SinkError'
    this.statusCode = details.statusCode
    this.retryAfterMs = details.retryAfterMs
  }
}
