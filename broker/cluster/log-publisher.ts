// Enters: records (the lines of one MQTT message) to append to the telemetry stream.
// Leaves: JetStream messages of whole records, newline-joined, each with a Nats-Msg-Id unique per
// node and boot, so that a retry after a lost PubAck is not stored twice.
// Guarantees: an append resolves only after JetStream acknowledged the message carrying it (stored
// on the stream's replicas); it rejects with CSG_SPOOL_FULL when the stream refused for lack of
// room, CSG_NATS_UNAVAILABLE when no acknowledgement came before its deadline (or at once when too
// many bytes await one), CSG_PAYLOAD_TOO_LARGE for a record no message can hold.
import { setImmediate as nextIoTurn, setTimeout as sleep } from 'node:timers/promises'
import { JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'

/** JetStream error codes: store failed ("maximum bytes exceeded" when full), no storage left, message above max_msg_size. */
const STORE_FAILED = 10077
const INSUFFICIENT_RESOURCES = 10023
const MESSAGE_TOO_LARGE = 10054

export interface PublisherOptions {
  readonly js: JetStreamClient
  readonly subject: string
  /** `${nodeName}.${bootId}`: with a counter, the Nats-Msg-Id of each message. */
  readonly msgIdPrefix: string
  /** Largest message payload; records are grouped up to it. */
  readonly maxMessageBytes: number
  /** Publishes awaiting their PubAck at once. */
  readonly maxInFlight: number
  /** Bytes of appends not yet acknowledged (queued or in flight) beyond which appends are refused at once. */
  readonly maxPendingBytes: number
  /** An append not acknowledged this long after it was made rejects with CSG_NATS_UNAVAILABLE, ms. */
  readonly appendTimeoutMs: number
  /** Longest wait for the PubAck of one attempt, ms. */
  readonly attemptTimeoutMs: number
  /** Pause before the first retry of a failed publish, ms; doubles up to retryMaxMs. */
  readonly retryInitialMs: number
  readonly retryMaxMs: number
  readonly log: Logger
}

interface PendingAppend {
  readonly lines: readonly string[]
  /** Payload bytes of its lines with their separators. */
  readonly bytes: number
  readonly enqueuedAtMs: number
  resolve: () => void
  reject: (err: unknown) => void
}

/** Whether the stream refused the message because it is full (max_bytes with discard new, or no storage left). */
function isStreamFull (err: unknown): boolean {
  if (!(err instanceof JetStreamApiError)) return false
  if (err.code === INSUFFICIENT_RESOURCES) return true
  return err.code === STORE_FAILED && /maximum (bytes|messages) exceeded/i.test(err.message)
}

function isTooLarge (err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === MESSAGE_TOO_LARGE
}

/** Payload bytes of a record: its lines and the newlines between and after them. */
export function recordBytes (lines: readonly string[]): number {
  let bytes = 0
  for (const line of lines) bytes += Buffer.byteLength(line) + 1
  return bytes
}

/** Uniform in [ceiling/2, ceiling], ceiling = min(max, initial·2^n): never 0, so a fast failure cannot spin. */
function retryDelayMs (attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30))
  return Math.ceil(ceiling / 2 + Math.random() * ceiling / 2)
}

export class LogPublisher {
  /** Appends acknowledged since start. */
  acknowledgedRecords = 0
  /** Messages acknowledged since start (group commits). */
  acknowledgedMessages = 0
  /** Acknowledgements that said duplicate: a retry whose first attempt had been stored. */
  duplicates = 0
  /** Bytes queued or in flight. */
  pendingBytes = 0

  private readonly queue: PendingAppend[] = []
  private inFlight = 0
  private sequence = 0
  private scheduled = false
  private failingSinceMs: number | null = null
  private readonly drained = new Set<() => void>()

  constructor (private readonly opts: PublisherOptions) {}

  /** Publishes in flight now. */
  get publishesInFlight (): number {
    return this.inFlight
  }

  /** Epoch ms of the first failure of the current run of failed attempts; null once one succeeded. */
  get failingSince (): number | null {
    return this.failingSinceMs
  }

  /** Something else showed JetStream answering again (e.g. a stream info) after the last failure. */
  noteReachable (sinceMs: number): void {
    if (this.failingSinceMs !== null && sinceMs > this.failingSinceMs) this.markReachable()
  }

  /** Call with a record of at least one line and its recordBytes. */
  append (lines: readonly string[], bytes: number): Promise<void> {
    if (bytes > this.opts.maxMessageBytes) {
      // It could never be stored whole; splitting it would acknowledge part of an MQTT message.
      return Promise.reject(new GatewayError('CSG_PAYLOAD_TOO_LARGE', `a record of ${bytes} bytes of line protocol exceeds the largest telemetry message (${this.opts.maxMessageBytes} bytes)`))
    }
    if (this.pendingBytes + bytes > this.opts.maxPendingBytes) {
      return Promise.reject(new GatewayError('CSG_NATS_UNAVAILABLE', `${this.pendingBytes} bytes of telemetry await JetStream's acknowledgement; refusing more until it answers`))
    }
    this.pendingBytes += bytes
    const enqueue = (resolve: () => void, reject: (err: unknown) => void): void => {
      this.queue.push({ lines, bytes, enqueuedAtMs: Date.now(), resolve, reject })
      this.schedule()
    }
    return new Promise<void>(enqueue)
  }

  /** Resolves once every append made so far has settled (each is bounded by its deadline). */
  drain (): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve()
    const wait = (resolve: () => void): void => { this.drained.add(resolve) }
    return new Promise<void>(wait)
  }

  // Appends made in the same I/O turn (one socket read can hold many PUBLISHes) join one group; while
  // every publish slot is busy, the queue gathers the next groups.
  private schedule (): void {
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight) return
    this.scheduled = true
    void nextIoTurn().then(() => {
      this.scheduled = false
      this.startPublishes()
    })
  }

  private startPublishes (): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const group = this.takeGroup()
      this.inFlight++
      void this.publishGroup(group).finally(() => {
        this.inFlight--
        this.startPublishes()
        if (this.queue.length === 0 && this.inFlight === 0) {
          for (const resolve of [...this.drained]) resolve()
          this.drained.clear()
        }
      })
    }
  }

  private takeGroup (): PendingAppend[] {
    let bytes = 0
    let count = 0
    for (const item of this.queue) {
      if (count > 0 && bytes + item.bytes > this.opts.maxMessageBytes) break
      bytes += item.bytes
      count++
    }
    return this.queue.splice(0, count)
  }

  /** Never rejects: settles every append of the group. */
  private async publishGroup (group: PendingAppend[]): Promise<void> {
    const id = `${this.opts.msgIdPrefix}.${++this.sequence}`
    const payload = joinRecords(group)
    const bytes = group.reduce(function addBytes (sum, item) { return sum + item.bytes }, 0)
    const deadlineMs = (group[0] as PendingAppend).enqueuedAtMs + this.opts.appendTimeoutMs
    let outcome: { err: unknown } | null = null
    for (let attempt = 0; ; attempt++) {
      const remainingMs = deadlineMs - Date.now()
      try {
        const ack = await this.opts.js.publish(this.opts.subject, payload, { msgID: id, timeout: Math.max(100, Math.min(this.opts.attemptTimeoutMs, remainingMs)) })
        if (ack.duplicate) this.duplicates++
        this.acknowledgedMessages++
        this.acknowledgedRecords += group.length
        this.markReachable()
        break
      } catch (err) {
        if (isStreamFull(err)) {
          outcome = { err: new GatewayError('CSG_SPOOL_FULL', 'the telemetry stream is full (its max_bytes or the servers\' storage); readings are refused until the writers catch up', { cause: err }) }
          break
        }
        if (isTooLarge(err)) {
          outcome = { err: new GatewayError('CSG_PAYLOAD_TOO_LARGE', 'the telemetry stream refused a message as larger than its max_msg_size', { cause: err }) }
          break
        }
        this.markFailing(err, id)
        const delayMs = retryDelayMs(attempt, this.opts.retryInitialMs, this.opts.retryMaxMs)
        if (Date.now() + delayMs >= deadlineMs) {
          outcome = { err: new GatewayError('CSG_NATS_UNAVAILABLE', `JetStream did not acknowledge telemetry within ${this.opts.appendTimeoutMs} ms (${errorText(err)})`, { cause: err }) }
          break
        }
        await sleep(delayMs)
      }
    }
    this.pendingBytes -= bytes
    if (outcome === null) for (const item of group) item.resolve()
    else for (const item of group) item.reject(outcome.err)
  }

  private markFailing (err: unknown, msgId: string): void {
    if (this.failingSinceMs === null) {
      this.failingSinceMs = Date.now()
      this.opts.log.warn({ err, msgId, pendingBytes: this.pendingBytes }, 'JetStream not acknowledging telemetry; retrying with the same message id')
    }
  }

  private markReachable (): void {
    if (this.failingSinceMs === null) return
    this.opts.log.info({ downMs: Date.now() - this.failingSinceMs }, 'JetStream acknowledging telemetry again')
    this.failingSinceMs = null
  }
}

function joinRecords (group: readonly PendingAppend[]): string {
  const lines: string[] = []
  for (const item of group) for (const line of item.lines) lines.push(line)
  return lines.join('\n')
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
