// Enters: read requests of this node's InfluxDB writer, and its commits and rewinds.
// Leaves: batches of whole JetStream messages pulled from the durable consumer that every node's
// writer shares; a commit acknowledges them (confirmed: the work-queue stream then drops them).
// Guarantees: messages this node holds (handed out or fetched ahead) are kept from redelivery with
// working() while the writer holds them, however long an InfluxDB outage lasts; if the node dies,
// JetStream redelivers them to the other nodes after ack_wait. Fetched-ahead bytes are bounded.
import { setImmediate as nextIoTurn, setTimeout as sleep } from 'node:timers/promises'
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { SpoolBatch } from '../spool/batch.ts'
import { confirmAck } from './confirm-ack.ts'

export interface LogReaderOptions {
  /** The connection the consumer's messages come on; acknowledgements are sent on it. */
  readonly nc: NatsConnection
  readonly consumer: Consumer
  /** The consumer's ack_wait, ms: held messages are kept alive every third of it. */
  readonly ackWaitMs: number
  /** Bytes fetched ahead of the writer at most; at least two of the largest messages. */
  readonly prefetchBytes: number
  /** Messages fetched ahead at most: with the batch the writer holds, what the node takes of the consumer's max_ack_pending. */
  readonly prefetchMessages: number
  /** Largest message the stream takes (its max_msg_size): fetches are sized by it. */
  readonly maxMessageBytes: number
  /** How long one pull request waits on the server for messages, ms (at least 1000). */
  readonly pullExpiresMs: number
  /** Longest wait for the server to confirm an acknowledgement (sent again meanwhile while no server answers), ms. */
  readonly ackTimeoutMs: number
  readonly log: Logger
}

/** A message fetched and not yet handed to the writer. */
interface Fetched { readonly msg: JsMsg, readonly lines: string[], readonly bytes: number, readonly receivedAtMs: number }

/** What a batch holds, kept out of the writer's reach (SpoolBatch stays opaque). */
interface BatchMark { readonly owner: LogReader, readonly messages: readonly JsMsg[] }
const batchMarks = new WeakMap<SpoolBatch, BatchMark>()

/** Pause after a failed fetch before the next, ms. */
const FETCH_RETRY_MS = 1000
/** How long gathering a batch waits for the next message of a backlog, ms. */
const GATHER_WAIT_MS = 20
/** Time for the server's end of a pull request (its 408) to reach us, ms. */
const REQUEST_END_MARGIN_MS = 500

export class LogReader {
  /** Messages handed out in batches and not yet committed or rewound. */
  private readonly held = new Set<JsMsg>()
  private readonly unread: Fetched[] = []
  private unreadBytes = 0
  private unreadLines = 0
  /** Messages the consumer had not delivered yet when it sent the last one we received (to any node). */
  private backlog = 0
  private readonly waiters = new Set<() => void>()
  private readsWaiting = 0
  private lastReadMs = 0
  private pulling: Promise<void> | null = null
  /** When the server ends the last pull request asked for, epoch ms. */
  private requestEndsAtMs = 0
  private current: ConsumerMessages | null = null
  private readonly commits = new Set<Promise<unknown>>()
  private closed = false
  private readonly closing = new AbortController()
  private isFetchFailing = false
  private readonly keepAlive: NodeJS.Timeout
  /** Messages received from the consumer since start; `redelivered` of them had been delivered before. */
  received = 0
  redelivered = 0

  constructor (private readonly opts: LogReaderOptions) {
    this.keepAlive = setInterval(() => { this.keepHeldAlive() }, Math.max(100, Math.floor(opts.ackWaitMs / 3)))
    this.keepAlive.unref()
  }

  /** Messages this node holds now: handed out and uncommitted, or fetched ahead. */
  get heldMessages (): number {
    return this.held.size + this.unread.length
  }

  read (maxLines: number, signal: AbortSignal | undefined): Promise<SpoolBatch | null> {
    if (!(Number.isSafeInteger(maxLines) && maxLines > 0)) return Promise.reject(new TypeError('telemetry log: maxLines must be a positive integer'))
    return this.readBatch(maxLines, signal)
  }

  private async readBatch (maxLines: number, signal: AbortSignal | undefined): Promise<SpoolBatch | null> {
    this.readsWaiting++
    try {
      for (;;) {
        this.lastReadMs = Date.now()
        if (this.isEnded(signal)) return null
        if (this.unread.length > 0) {
          await this.gather(maxLines, signal)
          if (this.isEnded(signal)) return null
          if (this.unread.length > 0) return this.take(maxLines)
        }
        this.pull()
        await this.waitForData(signal)
      }
    } finally {
      this.readsWaiting--
      this.lastReadMs = Date.now()
    }
  }

  // One fetch's messages come in one burst: let the rest of it land before cutting the batch. In a
  // backlog of small messages a batch of what one fetch brought would be small, and the writer waits
  // its flush interval after a batch that is not full: while the consumer reports more messages
  // waiting, keep collecting until the batch is full or the fetch-ahead room is used.
  private async gather (maxLines: number, signal: AbortSignal | undefined): Promise<void> {
    await nextIoTurn()
    while (!this.isEnded(signal) && this.backlog > 0 && this.unreadLines < maxLines && this.fetchSize() >= 1) {
      const receivedBefore = this.received
      this.pull()
      await this.waitForData(signal, GATHER_WAIT_MS)
      if (this.received === receivedBefore) return // the rest went to other nodes
      await nextIoTurn()
    }
  }

  private isEnded (signal: AbortSignal | undefined): boolean {
    return this.closed || signal?.aborted === true
  }

  /** Acknowledges every message of the batch and waits for the server to confirm each. */
  commit (batch: SpoolBatch): Promise<void> {
    const mark = batchMarks.get(batch)
    if (mark?.owner !== this) return Promise.reject(new TypeError('telemetry log: not a batch read from this log'))
    if (this.closed) return Promise.reject(new GatewayError('CSG_SPOOL_CLOSED'))
    const committing = this.acknowledge(mark.messages)
    this.commits.add(committing)
    const forget = (): void => { this.commits.delete(committing) }
    committing.then(forget, forget)
    return committing
  }

  private async acknowledge (messages: readonly JsMsg[]): Promise<void> {
    const mine = messages.filter((msg) => this.held.has(msg))
    if (mine.length < messages.length) throw new Error('telemetry log: this batch was rewound; read again and commit the new batch')
    const { nc, ackTimeoutMs } = this.opts
    const results = await Promise.allSettled(mine.map(function acknowledgeOne (msg) { return confirmAck(nc, msg, ackTimeoutMs) }))
    // Unconfirmed ones stay held: the writer rewinds after a failed commit, handing them back. If an
    // ack did land but its answer was lost, they are gone already and nothing comes back.
    let failed = 0
    let cause: unknown
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') this.held.delete(mine[i] as JsMsg)
      else {
        failed++
        cause ??= result.reason
      }
    })
    if (failed > 0) {
      throw new GatewayError('CSG_NATS_UNAVAILABLE', `JetStream did not confirm the acknowledgement of ${failed} of ${mine.length} messages`, { cause })
    }
  }

  /** Hands the held messages back to JetStream at once, for this node or another to read again. */
  rewind (): void {
    for (const msg of this.held) this.tell(msg, 'nak')
    this.held.clear()
    this.wake()
  }

  /**
   * Stops pulling, waits for commits asked for, hands back everything held. Waits (at most
   * pullExpiresMs) for this node's last pull request to end on the server first: a message handed
   * back while a request of a gone subscriber is still open there may be sent to it and return only
   * after ack_wait (seen with nats-server 2.9).
   */
  async close (): Promise<void> {
    this.closed = true
    this.closing.abort()
    clearInterval(this.keepAlive)
    this.wake()
    const requestOverMs = this.requestEndsAtMs + REQUEST_END_MARGIN_MS
    const bound = new AbortController()
    const timeUp = sleep(Math.max(0, requestOverMs - Date.now()), undefined, { signal: bound.signal }).catch(function cancelled () { return undefined })
    await Promise.race([this.pulling, timeUp])
    bound.abort()
    if (this.current !== null) {
      this.current.stop()
      await this.pulling
    }
    await Promise.allSettled([...this.commits])
    for (const item of this.unread) this.tell(item.msg, 'nak')
    this.unread.length = 0
    this.unreadBytes = 0
    this.unreadLines = 0
    this.rewind()
  }

  private take (maxLines: number): SpoolBatch {
    const messages: JsMsg[] = []
    const lines: string[] = []
    let bytes = 0
    while (this.unread.length > 0) {
      const next = this.unread[0] as Fetched
      if (messages.length > 0 && lines.length + next.lines.length > maxLines) break
      this.unread.shift()
      this.unreadBytes -= next.bytes
      this.unreadLines -= next.lines.length
      messages.push(next.msg)
      this.held.add(next.msg)
      for (const line of next.lines) lines.push(line)
      bytes += next.bytes
      if (lines.length >= maxLines) break
    }
    const batch: SpoolBatch = { lines, records: messages.length, bytes }
    batchMarks.set(batch, { owner: this, messages })
    this.pull() // room for more now
    return batch
  }

  // Pulls while the writer is reading (or read within ack_wait: it is between two writes) and the
  // fetched-ahead bytes leave room for one more message. A writer stuck on an outage stops reading,
  // so the node stops taking messages others could write.
  private pull (): void {
    if (this.pulling !== null || !this.wantsMore()) return
    this.pulling = this.fetchLoop().finally(() => { this.pulling = null })
  }

  private wantsMore (): boolean {
    if (this.closed) return false
    if (this.fetchSize() < 1) return false
    return this.readsWaiting > 0 || Date.now() - this.lastReadMs < this.opts.ackWaitMs
  }

  /** Messages the next fetch may ask for: as many as fit the room left, were each as large as the stream allows. */
  private fetchSize (): number {
    const byBytes = Math.floor((this.opts.prefetchBytes - this.unreadBytes) / this.opts.maxMessageBytes)
    return Math.min(byBytes, this.opts.prefetchMessages - this.unread.length)
  }

  /** Never rejects. */
  private async fetchLoop (): Promise<void> {
    while (this.wantsMore()) {
      const isOk = await this.fetchOnce()
      if (!isOk && !this.closed) await sleep(FETCH_RETRY_MS, undefined, { signal: this.closing.signal }).catch(function closing () { return undefined })
    }
  }

  // A fetch asks for as many messages as fit the room left even if each is as large as the stream
  // allows: a hard bound. (A byte-limited pull would fit more small messages, but this client then
  // caps it at 100 messages and ends it only when heartbeats go missing, seconds later.)
  private async fetchOnce (): Promise<boolean> {
    const maxMessages = this.fetchSize()
    if (maxMessages < 1) return true
    try {
      this.requestEndsAtMs = Date.now() + this.opts.pullExpiresMs
      const messages = await this.opts.consumer.fetch({ max_messages: maxMessages, expires: this.opts.pullExpiresMs })
      this.current = messages
      for await (const msg of messages) this.receive(msg)
      this.noteFetch(null)
      return true
    } catch (err) {
      this.noteFetch(err)
      return false
    } finally {
      this.current = null
    }
  }

  private receive (msg: JsMsg): void {
    this.received++
    if (msg.redelivered) this.redelivered++
    const text = msg.string()
    if (text === '') {
      this.tell(msg, 'ack') // nothing to write; this gateway never publishes an empty message
      return
    }
    const lines = text.split('\n')
    this.unread.push({ msg, lines, bytes: msg.data.length, receivedAtMs: Date.now() })
    this.unreadBytes += msg.data.length
    this.unreadLines += lines.length
    this.backlog = msg.info.pending
    this.wake()
  }

  private noteFetch (err: unknown): void {
    if (err === null) {
      if (this.isFetchFailing) this.opts.log.info('pulling telemetry from JetStream again')
      this.isFetchFailing = false
      return
    }
    if (!this.isFetchFailing) this.opts.log.warn({ err }, 'could not pull telemetry from JetStream; retrying')
    this.isFetchFailing = true
  }

  // Held messages are kept from redelivery. Fetched-ahead ones the writer has not come for within
  // ack_wait go back (it is stuck, e.g. on an InfluxDB outage): another node may write them.
  private keepHeldAlive (): void {
    for (const msg of this.held) this.tell(msg, 'working')
    const staleBeforeMs = Date.now() - this.opts.ackWaitMs
    let released = 0
    while (this.unread.length > 0 && (this.unread[0] as Fetched).receivedAtMs < staleBeforeMs && this.readsWaiting === 0) {
      const item = this.unread.shift() as Fetched
      this.unreadBytes -= item.bytes
      this.unreadLines -= item.lines.length
      this.tell(item.msg, 'nak')
      released++
    }
    for (const item of this.unread) this.tell(item.msg, 'working')
    if (released > 0) this.opts.log.info({ released, held: this.held.size }, 'writer not reading: fetched telemetry handed back for other nodes')
  }

  // These publish on the connection and throw once it is closed; JetStream then redelivers after
  // ack_wait anyway, so a failure is only worth a debug line.
  private tell (msg: JsMsg, what: 'ack' | 'nak' | 'working'): void {
    try {
      msg[what]()
    } catch (err) {
      this.opts.log.debug({ err, what, seq: msg.seq }, 'could not tell JetStream about a message')
    }
  }

  private wake (): void {
    for (const wake of [...this.waiters]) wake()
  }

  /** Resolves on the next wake, abort, or after timeoutMs when given. */
  private waitForData (signal: AbortSignal | undefined, timeoutMs?: number): Promise<void> {
    const waitForWake = (resolve: () => void): void => {
      let timer: NodeJS.Timeout | undefined
      const wake = (): void => {
        this.waiters.delete(wake)
        signal?.removeEventListener('abort', wake)
        clearTimeout(timer)
        resolve()
      }
      this.waiters.add(wake)
      signal?.addEventListener('abort', wake, { once: true })
      if (timeoutMs !== undefined) timer = setTimeout(wake, timeoutMs)
    }
    return new Promise<void>(waitForWake)
  }
}
