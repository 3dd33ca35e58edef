// Enters: whether this node's writer wants messages, and how much it lets wait for it.
// Leaves: messages pulled from the durable consumer every node's writer shares, in arrival order,
// split into lines, until the reader takes them.
// Guarantees: what waits stays within prefetchBytes and prefetchMessages (fetches are sized as if
// every message were as large as the stream allows); it is kept from redelivery while it waits, and
// handed back (nak) when the writer has not come for it within ack_wait, so that a node stuck on an
// InfluxDB outage does not sit on messages others could write.
import { setTimeout as sleep } from 'node:timers/promises'
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream'
import type { Logger } from '../log.ts'
import { tell } from './message-acks.ts'

export interface FetchAheadOptions {
  readonly consumer: Consumer
  /** The consumer's ack_wait, ms. */
  readonly ackWaitMs: number
  /** Bytes waiting at most; at least two of the largest messages. */
  readonly prefetchBytes: number
  /** Messages waiting at most: with the batch the writer holds, what the node takes of the consumer's max_ack_pending. */
  readonly prefetchMessages: number
  /** Largest message the stream takes (its max_msg_size): fetches are sized by it. */
  readonly maxMessageBytes: number
  /** How long one pull request waits on the server for messages, ms (at least 1000). */
  readonly pullExpiresMs: number
  /** Whether the writer is reading (or was, lately): pulling stops when it is not. */
  readonly isWanted: () => boolean
  /** Called when messages arrived. */
  readonly onArrival: () => void
  /**
   * Whether this node already has the message of that stream sequence: 'held' (handed to the writer,
   * or committed and its ack not yet confirmed) or 'stored' (its ack was confirmed lately).
   */
  readonly copyOf: (seq: number) => 'held' | 'stored' | null
  readonly log: Logger
}

/** A message fetched and not yet handed to the writer. */
export interface Fetched { readonly msg: JsMsg, readonly lines: string[], readonly bytes: number, readonly receivedAtMs: number }

/** Pause after a failed or suspiciously empty fetch before the next, ms. */
const FETCH_RETRY_MS = 1000
/** Time for the server's end of a pull request (its 408) to reach us, ms. */
const REQUEST_END_MARGIN_MS = 500

export class FetchAhead {
  /** Messages received since start; `redelivered` of them had been delivered before (to any node). */
  received = 0
  redelivered = 0
  /** Redeliveries of a message this node already had, dropped (never written twice by this node). */
  duplicates = 0
  /** Messages the consumer had not delivered yet when it sent the last one received. */
  backlog = 0
  private readonly waiting: Fetched[] = []
  private waitingBytes = 0
  private waitingLines = 0
  private pulling: Promise<void> | null = null
  private current: ConsumerMessages | null = null
  /** When the server ends the last pull request asked for, epoch ms. */
  private requestEndsAtMs = 0
  private isFailing = false
  private closed = false
  private readonly closing = new AbortController()

  constructor (private readonly opts: FetchAheadOptions) {}

  get count (): number {
    return this.waiting.length
  }

  get lines (): number {
    return this.waitingLines
  }

  /** Messages the next fetch may ask for: as many as fit the room left, were each as large as the stream allows. */
  room (): number {
    const byBytes = Math.floor((this.opts.prefetchBytes - this.waitingBytes) / this.opts.maxMessageBytes)
    return Math.min(byBytes, this.opts.prefetchMessages - this.waiting.length)
  }

  /** Starts pulling unless a pull is on, there is no room, or nobody wants messages. */
  pull (): void {
    if (this.pulling !== null || !this.wantsMore()) return
    this.pulling = this.fetchLoop().finally(() => { this.pulling = null })
  }

  /** Whole messages in arrival order: at least one, then as long as their lines stay within maxLines. */
  take (maxLines: number): Fetched[] {
    let lines = 0
    let count = 0
    for (const item of this.waiting) {
      if (count > 0 && lines + item.lines.length > maxLines) break
      lines += item.lines.length
      count++
      if (lines >= maxLines) break
    }
    const taken = this.waiting.splice(0, count)
    for (const item of taken) this.forget(item)
    this.pull()
    return taken
  }

  /** Called every third of ack_wait: keeps waiting messages alive, hands back those the writer left. */
  keepAlive (isReading: boolean): void {
    const staleBeforeMs = Date.now() - this.opts.ackWaitMs
    let released = 0
    while (!isReading && this.waiting.length > 0 && (this.waiting[0] as Fetched).receivedAtMs < staleBeforeMs) {
      const item = this.waiting.shift() as Fetched
      this.forget(item)
      tell(item.msg, 'nak', this.opts.log)
      released++
    }
    for (const item of this.waiting) tell(item.msg, 'working', this.opts.log)
    if (released > 0) this.opts.log.info({ released }, 'writer not reading: fetched telemetry handed back for other nodes')
  }

  /**
   * Stops pulling and hands back what waits. First waits (at most pullExpiresMs) for the last pull
   * request to end on the server: a message handed back while a request of a gone subscriber is
   * still open there can be sent to it, and return only after ack_wait (seen with nats-server 2.9).
   */
  async close (): Promise<void> {
    this.closed = true
    this.closing.abort()
    const bound = new AbortController()
    const requestOverMs = this.requestEndsAtMs + REQUEST_END_MARGIN_MS
    const timeUp = sleep(Math.max(0, requestOverMs - Date.now()), undefined, { signal: bound.signal }).catch(function cancelled () { return undefined })
    await Promise.race([this.pulling, timeUp])
    bound.abort()
    if (this.current !== null) {
      this.current.stop()
      await this.pulling
    }
    for (const item of this.waiting.splice(0)) tell(item.msg, 'nak', this.opts.log)
    this.waitingBytes = 0
    this.waitingLines = 0
  }

  private wantsMore (): boolean {
    return !this.closed && this.room() >= 1 && this.opts.isWanted()
  }

  /** Never rejects. */
  private async fetchLoop (): Promise<void> {
    while (this.wantsMore()) {
      const startedAtMs = Date.now()
      const receivedBefore = this.received
      const isOk = await this.fetchOnce()
      // A fetch that ends at once with nothing is not the server waiting for messages: do not spin.
      const isEmptyAtOnce = this.received === receivedBefore && Date.now() - startedAtMs < this.opts.pullExpiresMs / 2
      if ((!isOk || isEmptyAtOnce) && !this.closed) {
        await sleep(FETCH_RETRY_MS, undefined, { signal: this.closing.signal }).catch(function closing () { return undefined })
      }
    }
  }

  // Asks for as many messages as fit the room left even if each is as large as the stream allows: a
  // hard bound. (A byte-limited pull would fit more small messages, but this client then caps it at
  // 100 messages and ends it only when heartbeats go missing, seconds later.)
  private async fetchOnce (): Promise<boolean> {
    const maxMessages = this.room()
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
    this.backlog = msg.info.pending
    if (msg.redelivered) {
      this.redelivered++
      if (this.isDuplicate(msg)) return
    }
    const text = msg.string()
    if (text === '') {
      tell(msg, 'ack', this.opts.log) // nothing to write; this gateway never publishes an empty message
      return
    }
    const lines = text.split('\n')
    this.waiting.push({ msg, lines, bytes: msg.data.length, receivedAtMs: Date.now() })
    this.waitingBytes += msg.data.length
    this.waitingLines += lines.length
    this.opts.onArrival()
  }

  // When keep-alives cannot reach the consumer (all servers down, or no consumer leader yet after a
  // restart), ack_wait runs out on messages this node still has and JetStream sends them again. The
  // copy this node has settles the stream sequence (acks, naks and keep-alives go by it), so the new
  // one is dropped; one whose ack was confirmed meanwhile is acknowledged again. Redeliveries are
  // rare, so looking through what waits costs less than indexing every message.
  private isDuplicate (msg: JsMsg): boolean {
    const isWaiting = this.waiting.some(function sameMessage (item) { return item.msg.seq === msg.seq })
    const copy = isWaiting ? 'held' : this.opts.copyOf(msg.seq)
    if (copy === null) return false
    this.duplicates++
    if (copy === 'stored') tell(msg, 'ack', this.opts.log)
    this.opts.log.debug({ seq: msg.seq, copy }, 'dropped a redelivery of telemetry this node already has')
    return true
  }

  private forget (item: Fetched): void {
    this.waitingBytes -= item.bytes
    this.waitingLines -= item.lines.length
  }

  private noteFetch (err: unknown): void {
    if (err === null) {
      if (this.isFailing) this.opts.log.info('pulling telemetry from JetStream again')
      this.isFailing = false
      return
    }
    if (!this.isFailing) this.opts.log.warn({ err }, 'could not pull telemetry from JetStream; retrying')
    this.isFailing = true
  }
}
