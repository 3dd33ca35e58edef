// Spool → sink, in read order: a batch is committed (cursor advanced) only after the sink accepted
// it or its refused lines were quarantined durably; nothing is dropped. Outages are retried forever
// with jittered backoff, refused batches are halved until the bad line(s) are isolated.
import type { Logger } from 'pino'
import { isGatewayError } from '../errors.ts'
import type { Quarantine } from './quarantine.ts'
import { linesOf, type Lines } from '../spool/batch.ts'
import { SinkError, type Sink } from './sink.ts'
import type { Spool } from '../spool/spool.ts'
import { backoffDelayMs } from '../backoff.ts'
import { pauseUnlessStopped } from '../pause.ts'

/** Metric hooks, so the caller wires prom-client without this module importing it. Must not throw. */
export interface WriterMetrics {
  /** A sink write succeeded: how many lines, and how long it took (seconds). */
  onWrite?(lines: number, seconds: number): void
  /** A write failed and will be retried (retryable or unauthorized). */
  onRetry?(): void
  /** Lines refused by the server were quarantined. */
  onQuarantine?(lines: number): void
}

export interface WriterOptions {
  spool: Spool
  sink: Sink
  log: Logger
  /** Receives refused lines: the DATA_DIR file (quarantine-file.ts) or the cluster's stream. */
  quarantine: Quarantine
  /** Most lines per sink write (INFLUX_BATCH_LINES). */
  batchLines: number
  /** After a write that was not full, how long to let the spool fill before the next one, ms (INFLUX_FLUSH_MS). */
  flushIntervalMs: number
  metrics?: WriterMetrics
  /** First retry delay cap, ms. */
  retryInitialMs: number
  /** Largest retry delay, ms. */
  retryMaxMs: number
  /** Retry period while the server refuses the credentials, ms. */
  unauthorizedRetryMs: number
  /** Longest Retry-After honoured, ms. */
  retryAfterMaxMs: number
}

export interface WriterState {
  /** The server answered the last write (accepted or refused lines). */
  connected: boolean
  lastError?: string
  /** Epoch ms of the last accepted write. */
  lastWriteMs?: number
}

export interface Writer {
  /** Starts the loop; idempotent. */
  start(): void
  /**
   * Stops the loop: waits for a write in flight (bounded by the sink's timeout), commits it if it
   * succeeded, and leaves everything else in the spool. Does not close the spool or the sink.
   */
  close(): Promise<void>
  state(): WriterState
}

type Health = 'unknown' | 'connected' | 'unreachable' | 'unauthorized'

export function createWriter (options: WriterOptions): Writer {
  const settings = Object.freeze({
    batchLines: options.batchLines,
    flushIntervalMs: options.flushIntervalMs,
    retryInitialMs: options.retryInitialMs,
    retryMaxMs: options.retryMaxMs,
    unauthorizedRetryMs: options.unauthorizedRetryMs,
    retryAfterMaxMs: options.retryAfterMaxMs,
  })
  const { spool, sink } = options
  const metrics = options.metrics ?? {}
  const log = options.log.child({ module: 'writer', sink: sink.name })
  const stopping = new AbortController()
  let loop: Promise<void> | undefined
  let health: Health = 'unknown'
  let healthSinceMs = Date.now()
  let failures = 0
  let attemptsInState = 0
  let lastError: string | undefined
  let lastWriteMs: number | undefined

  /** Metric hooks are the caller's code: a throwing hook is logged, never breaks the loop. */
  function notify (hook: keyof WriterMetrics, call: () => void): void {
    try {
      call()
    } catch (err) {
      log.warn({ err, hook }, 'writer metric hook threw')
    }
  }

  function setHealth (next: Health, err?: unknown): void {
    if (err !== undefined) lastError = err instanceof Error ? err.message : JSON.stringify(err)
    if (next === health) {
      attemptsInState++
      return
    }
    const previous = health
    const depth = spool.stats()
    const context = { depthRecords: depth.depthRecords, depthBytes: depth.depthBytes, oldestRecordAgeMs: depth.oldestRecordAgeMs }
    const lastedMs = Date.now() - healthSinceMs
    if (next === 'unreachable') {
      log.warn({ ...context, err }, 'influx unreachable, spooling')
    } else if (next === 'unauthorized') {
      log.error({ ...context, err }, 'influx refused the credentials, writing paused')
    } else if (next === 'connected' && previous !== 'unknown') {
      log.info({ ...context, downMs: lastedMs, attempts: attemptsInState, was: previous }, 'influx back, draining')
    }
    health = next
    healthSinceMs = Date.now()
    attemptsInState = 1
  }

  function pause (ms: number): Promise<boolean> {
    return pauseUnlessStopped(ms, stopping.signal)
  }

  async function quarantine (line: string, reason: string): Promise<void> {
    await options.quarantine.add({ tsMs: Date.now(), reason, line })
    log.warn({ reason, lineBytes: Buffer.byteLength(line) }, 'line refused by influx, quarantined')
    notify('onQuarantine', () => metrics.onQuarantine?.(1))
  }

  /**
   * Writes lines until they are stored or quarantined. Returns false only when the writer stops
   * first; the caller then leaves the batch uncommitted. Refusal: halves are written separately
   * (rewriting a point InfluxDB already took is harmless), a single refused line is quarantined.
   * Only then are the lines looked at one by one; otherwise their bytes go out as read.
   */
  async function deliver (text: Lines): Promise<boolean> {
    for (;;) {
      if (stopping.signal.aborted) return false
      const startedNs = process.hrtime.bigint()
      try {
        await sink.write(text.body)
        const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9
        failures = 0
        lastWriteMs = Date.now()
        setHealth('connected')
        notify('onWrite', () => metrics.onWrite?.(text.lineCount, seconds))
        return true
      } catch (err) {
        if (isGatewayError(err, 'CSG_SINK_REFUSED')) {
          failures = 0
          setHealth('connected', err)
          const lines = text.lines
          if (lines.length === 1) {
            await quarantine(lines[0] ?? '', err.message)
            return true
          }
          const middle = Math.ceil(lines.length / 2)
          return await deliver(linesOf(lines.slice(0, middle))) && await deliver(linesOf(lines.slice(middle)))
        }
        notify('onRetry', () => metrics.onRetry?.())
        if (isGatewayError(err, 'CSG_SINK_UNAUTHORIZED')) {
          setHealth('unauthorized', err)
          if (!await pause(settings.unauthorizedRetryMs)) return false
          continue
        }
        // CSG_SINK_RETRYABLE, or a fault the sink did not classify: keep the data, retry.
        setHealth('unreachable', err)
        const retryAfterMs = err instanceof SinkError && err.retryAfterMs !== undefined
          ? Math.min(err.retryAfterMs, settings.retryAfterMaxMs)
          : 0
        const delayMs = Math.max(retryAfterMs, backoffDelayMs(failures, settings.retryInitialMs, settings.retryMaxMs))
        failures++
        if (!await pause(delayMs)) return false
      }
    }
  }

  async function run (): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        const batch = await spool.read(settings.batchLines, stopping.signal)
        if (batch === null) break
        if (!await deliver(batch)) {
          spool.rewind()
          break
        }
        await spool.commit(batch)
        // A full batch means a backlog: go on at once. Otherwise let the next batch gather.
        if (batch.lineCount < settings.batchLines && settings.flushIntervalMs > 0 && !await pause(settings.flushIntervalMs)) break
      } catch (err) {
        if (stopping.signal.aborted || isGatewayError(err, 'CSG_SPOOL_CLOSED')) break
        // A disk fault reading or committing: nothing was committed, so read again later.
        log.error({ err }, 'writer could not read or commit the spool, retrying')
        spool.rewind()
        if (!await pause(1000)) break
      }
    }
  }

  return {
    start () {
      if (loop !== undefined) return
      loop = run().catch(function onLoopCrash (err: unknown) {
        log.fatal({ err }, 'writer loop crashed')
      })
      sink.ping().then(function onFirstPing (isUp) {
        if (health === 'unknown') {
          healthSinceMs = Date.now()
          if (!isUp) log.warn('influx not answering its ping yet; readings wait in the spool')
          else health = 'connected'
        }
      }, function onPingError (err: unknown) {
        log.warn({ err }, 'influx ping failed')
      })
    },
    async close () {
      stopping.abort()
      await loop
    },
    state () {
      const current: WriterState = { connected: health === 'connected' }
      if (lastError !== undefined) current.lastError = lastError
      if (lastWriteMs !== undefined) current.lastWriteMs = lastWriteMs
      return current
    },
  }
}
