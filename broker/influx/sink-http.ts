// Shared by the InfluxDB sinks: line protocol → one HTTP POST through the InfluxDB client's node
// transport, with a hard deadline. Resolves only on a 2xx; every failure rejects with a SinkError
// whose code says what the writer should do (retry, split and quarantine, or pause).
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { HttpError, InfluxDB, setLogger, type Transport } from '@influxdata/influxdb-client'
import type { Logger } from 'pino'
import { SinkError, type Sink } from './sink.ts'

export interface InfluxHttpOptions {
  url: string
  /** Sent as `Authorization: Token …` by the client. */
  token?: string | undefined
  /** Extra headers on every request (v1 basic auth). Never logged. */
  headers?: Record<string, string>
  /** Deadline of one request (connect + upload + answer), ms. */
  timeoutMs: number
  log: Logger
}

export interface InfluxHttp {
  /** POSTs the lines (joined by \n, or already as those bytes); resolves on 2xx, rejects with a SinkError otherwise. */
  postLines(pathAndQuery: string, lines: readonly string[] | Buffer): Promise<void>
  /** GET path: true on 2xx; false on anything else, never throws. */
  ping(path: string): Promise<boolean>
  /** Aborts requests in flight (they reject CSG_SINK_RETRYABLE) and frees the sockets. */
  close(): void
}

/**
 * Why the transport and not the client's WriteApi: WriteApi buffers points in memory, retries on
 * its own and drops lines once its retry buffer is full, and reports failures through a log line
 * plus a rejected flush. Our spool already holds the data durably, so we want exactly one HTTP
 * request per batch whose outcome we classify ourselves — transport.send() gives that, and an
 * HttpError carrying status, body and headers (Retry-After) for the classification.
 */
export function createInfluxHttp (options: InfluxHttpOptions): InfluxHttp {
  const log = options.log
  routeClientLogger(log)
  const agent = options.url.startsWith('https:')
    ? new HttpsAgent({ keepAlive: true, maxSockets: 4 })
    : new HttpAgent({ keepAlive: true, maxSockets: 4 })
  const transport: Transport = new InfluxDB({
    url: options.url,
    ...(options.token !== undefined ? { token: options.token } : {}),
    // 0 disables the client's socket timeout: it reports RequestTimedOutError without destroying
    // the request; our AbortController deadline below destroys it.
    timeout: 0,
    headers: options.headers ?? {},
    transportOptions: { agent },
  }).transport
  const inFlight = new Set<AbortController>()
  let isClosed = false

  async function send (path: string, body: string | Buffer, method: 'GET' | 'POST'): Promise<void> {
    if (isClosed) throw new SinkError('CSG_SINK_RETRYABLE', 'the InfluxDB sink is closed', {})
    const controller = new AbortController()
    let isTimedOut = false
    const timer = setTimeout(function abortOnDeadline () {
      isTimedOut = true
      controller.abort()
    }, options.timeoutMs)
    inFlight.add(controller)
    try {
      await new Promise<void>(function sendAndAwaitAnswer (resolve, reject) {
        // send() is typed for a string body, but the node transport sends Buffer.from(body), which
        // takes bytes as they are: a batch read from the spool goes out without becoming a string.
        transport.send(path, body as string, {
          method,
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          signal: controller.signal,
        }, { error: reject, complete: resolve })
      })
    } catch (err) {
      throw classifySinkFailure(err, isTimedOut ? `no answer within ${options.timeoutMs} ms` : undefined)
    } finally {
      clearTimeout(timer)
      inFlight.delete(controller)
    }
  }

  return {
    async postLines (pathAndQuery, lines) {
      await send(pathAndQuery, Buffer.isBuffer(lines) ? lines : lines.join('\n'), 'POST')
    },
    async ping (path) {
      try {
        await send(path, '', 'GET')
        return true
      } catch {
        return false
      }
    },
    close () {
      isClosed = true
      for (const controller of inFlight) controller.abort()
      agent.destroy()
    },
  }
}

/**
 * The one place deciding what a failure means. 401/403 → UNAUTHORIZED. 408, 429, 5xx → RETRYABLE
 * (and 404: InfluxDB answers it for a missing database/bucket, a configuration fault that must
 * not cost the points; 3xx: a redirect we do not follow, same reasoning). Other 4xx → REFUSED with
 * the server's message (400 bad line or type conflict, 413 too large: the writer splits).
 * Anything without an HTTP status (refused connection, reset, DNS, deadline) → RETRYABLE.
 */
export function classifySinkFailure (err: unknown, timeoutReason?: string): SinkError {
  if (err instanceof SinkError) return err
  if (err instanceof HttpError) {
    const status = err.statusCode
    const serverMessage = describeServerMessage(err)
    const retryAfterMs = parseRetryAfter(err.headers?.['retry-after'])
    const details = { statusCode: status, cause: err, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }
    if (status === 401 || status === 403) {
      return new SinkError('CSG_SINK_UNAUTHORIZED', `InfluxDB refused the credentials (${status}): ${serverMessage}`, details)
    }
    if (status === 404 || status === 408 || status === 429 || status >= 500 || status < 400) {
      return new SinkError('CSG_SINK_RETRYABLE', `InfluxDB could not take the batch (${status}): ${serverMessage}`, details)
    }
    return new SinkError('CSG_SINK_REFUSED', `InfluxDB refused the batch (${status}): ${serverMessage}`, details)
  }
  const message = timeoutReason ?? describeNetworkError(err)
  return new SinkError('CSG_SINK_RETRYABLE', `InfluxDB unreachable: ${message}`, { cause: err })
}

/** The server's own words: influxd `{"error":…}`, InfluxDB 2/3 `{"message":…}`, else the body. */
function describeServerMessage (err: HttpError): string {
  const json: unknown = err.json
  if (typeof json === 'object' && json !== null) {
    const record = json as Record<string, unknown>
    if (typeof record.error === 'string') return record.error
    if (typeof record.message === 'string') return record.message
  }
  const body = err.body?.trim()
  if (body !== undefined && body !== '') {
    try {
      const parsed = JSON.parse(body) as Record<string, unknown>
      if (typeof parsed.error === 'string') return parsed.error
      if (typeof parsed.message === 'string') return parsed.message
    } catch {
      // not JSON: the body itself is the message
    }
    return body.slice(0, 1000)
  }
  return err.statusMessage ?? `HTTP ${err.statusCode}`
}

function describeNetworkError (err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    return code !== undefined && !err.message.includes(code) ? `${code} ${err.message}` : err.message
  }
  return String(err)
}

/**
 * Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). The client's HttpError.retryAfter()
 * reads the number as milliseconds, hence our own parser.
 */
export function parseRetryAfter (value: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined || text.trim() === '') return undefined
  if (/^\s*\d+\s*$/.test(text)) return Number.parseInt(text, 10) * 1000
  const dateMs = Date.parse(text)
  return Number.isNaN(dateMs) ? undefined : Math.max(0, dateMs - nowMs)
}

/**
 * The client logs through a process-wide logger (console by default); send it to pino instead.
 * Process-wide: the last sink created wins, which is fine with one root logger.
 */
function routeClientLogger (log: Logger): void {
  const clientLog = log.child({ module: 'influxdb-client' })
  setLogger({
    error (message: string, err?: unknown) { clientLog.error({ err }, message) },
    warn (message: string, err?: unknown) { clientLog.warn({ err }, message) },
  })
}

/** A Sink over one write endpoint: the part both InfluxDB APIs share; they differ in path and auth. */
export function createHttpSink (name: string, http: InfluxHttp, writePath: string): Sink {
  return {
    name,
    async write (lines) {
      if (lines.length === 0) return
      await http.postLines(writePath, lines)
    },
    ping () {
      return http.ping('/ping')
    },
    close () {
      http.close()
      return Promise.resolve()
    },
  }
}
