// Enters: read requests of this node's InfluxDB writer, and its commits and rewinds.
// Leaves: batches of whole JetStream messages (fetch-ahead.ts pulls them from the consumer every
// node's writer shares); a commit acknowledges them, confirmed, and the work-queue stream drops them.
// Guarantees: messages the writer holds are kept from redelivery with working() however long it
// holds them (an InfluxDB outage); if the node dies, JetStream redelivers them to the other nodes
// after ack_wait; a rewind or close hands them back at once. Committed ones are acknowledged until
// the server confirms, never handed back.
import { setImmediate as nextIoTurn, setTimeout as sleep } from 'node:timers/promises'
import type { Consumer, JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { batchOfLines, type SpoolBatch } from '../spool/batch.ts'
import { FetchAhead } from './fetch-ahead.ts'
import { confirmAck, tell } from './message-acks.ts'

export interface LogReaderOptions {
  /** The connection the consumer's messages come on; acknowledgements are sent on it. */
  readonly nc: NatsConnection
  readonly consumer: Consumer
  /** The consumer's ack_wait, ms: held messages are kept alive every third of it. */
  readonly ackWaitMs: number
  /** Bytes and messages fetched ahead of the writer at most (a batch is cut from them). */
  readonly prefetchBytes: number
  readonly prefetchMessages: number
  /** Largest message the stream takes (its max_msg_size). */
  readonly maxMessageBytes: number
  /** How long one pull request waits on the server for messages, ms (at least 1000). */
  readonly pullExpiresMs: number
  /** Longest wait for the server to confirm an acknowledgement (sent again meanwhile while no server answers), ms. */
  readonly ackTimeoutMs: number
  readonly log: Logger
}

/** What a batch holds, kept out of the writer's reach (SpoolBatch stays opaque). */
interface BatchMark { readonly owner: LogReader, readonly messages: readonly JsMsg[] }
const batchMarks = new WeakMap<SpoolBatch, BatchMark>()

/** How long gathering a batch waits for the next message of a backlog, ms. */
const GATHER_WAIT_MS = 20
/** Pause between rounds of acknowledgements sent again, ms. */
const CONFIRM_RETRY_MS = 1000
/** Stream sequences of confirmed acknowledgements remembered, to recognise a redelivery that crossed its ack. */
const STORED_SEQS_KEPT = 4096

export class LogReader {
  /** Messages handed out in batches and not yet committed or rewound. */
  private readonly held = new Set<JsMsg>()
  /** Committed (stored by the writer) whose acknowledgement the server has not confirmed yet. */
  private readonly unconfirmed = new Set<JsMsg>()
  private readonly storedSeqs = new RecentNumbers(STORED_SEQS_KEPT)
  private confirming: Promise<void> | null = null
  private readonly closing = new AbortController()
  private readonly fetched: FetchAhead
  private readonly waiters = new Set<() => void>()
  private readsWaiting = 0
  private lastReadMs = 0
  private readonly commits = new Set<Promise<unknown>>()
  private closed = false
  private readonly keepAlive: NodeJS.Timeout

  constructor (private readonly opts: LogReaderOptions) {
    this.fetched = new FetchAhead({
      consumer: opts.consumer,
      ackWaitMs: opts.ackWaitMs,
      prefetchBytes: opts.prefetchBytes,
      prefetchMessages: opts.prefetchMessages,
      maxMessageBytes: opts.maxMessageBytes,
      pullExpiresMs: opts.pullExpiresMs,
      log: opts.log,
      // Reading, or read within ack_wait (between two writes): a writer stuck on an outage stops reading.
      isWanted: () => this.readsWaiting > 0 || Date.now() - this.lastReadMs < opts.ackWaitMs,
      onArrival: () => { this.wake() },
      copyOf: (seq) => holdsSeq(this.held, seq) || holdsSeq(this.unconfirmed, seq) ? 'held' : this.storedSeqs.has(seq) ? 'stored' : null,
    })
    this.keepAlive = setInterval(() => {
      for (const msg of this.held) tell(msg, 'working', opts.log)
      for (const msg of this.unconfirmed) tell(msg, 'working', opts.log)
      this.fetched.keepAlive(this.readsWaiting > 0)
    }, Math.max(100, Math.floor(opts.ackWaitMs / 3)))
    this.keepAlive.unref()
  }

  /** Messages this node holds now: handed out, committed but not confirmed, or fetched ahead. */
  get heldMessages (): number {
    return this.held.size + this.unconfirmed.size + this.fetched.count
  }

  /**
   * Messages received since start, those of them delivered before (to this node or another), and
   * redeliveries dropped because this node had the message already.
   */
  get receivedMessages (): { received: number, redelivered: number, duplicates: number } {
    return { received: this.fetched.received, redelivered: this.fetched.redelivered, duplicates: this.fetched.duplicates }
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
        if (this.fetched.count > 0) {
          await this.gather(maxLines, signal)
          if (this.isEnded(signal)) return null
          if (this.fetched.count > 0) return this.batchOf(maxLines)
        }
        this.fetched.pull()
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
    const { fetched } = this
    while (!this.isEnded(signal) && fetched.backlog > 0 && fetched.lines < maxLines && fetched.room() >= 1) {
      const receivedBefore = fetched.received
      fetched.pull()
      await this.waitForData(signal, GATHER_WAIT_MS)
      if (fetched.received === receivedBefore) return // the rest went to other nodes
      await nextIoTurn()
    }
  }

  private batchOf (maxLines: number): SpoolBatch {
    const messages: JsMsg[] = []
    const lines: string[] = []
    let bytes = 0
    for (const item of this.fetched.take(maxLines)) {
      messages.push(item.msg)
      this.held.add(item.msg)
      for (const line of item.lines) lines.push(line)
      bytes += item.bytes
    }
    const batch = batchOfLines(lines, messages.length, bytes)
    batchMarks.set(batch, { owner: this, messages })
    return batch
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
    // Their lines are stored: from now on they are acknowledged, never handed back (that would write them twice).
    for (const msg of mine) {
      this.held.delete(msg)
      this.unconfirmed.add(msg)
    }
    const { failed, cause } = await this.confirmEach(mine)
    if (failed > 0) {
      this.confirmLater()
      throw new GatewayError('CSG_NATS_UNAVAILABLE', `JetStream did not confirm the acknowledgement of ${failed} of ${mine.length} messages; it is sent again in the background`, { cause })
    }
  }

  /** Sends each ack and waits for its confirmation; confirmed messages are done with. */
  private async confirmEach (messages: readonly JsMsg[]): Promise<{ failed: number, cause: unknown }> {
    const { nc, ackTimeoutMs } = this.opts
    const results = await Promise.allSettled(messages.map(function acknowledgeOne (msg) { return confirmAck(nc, msg, ackTimeoutMs) }))
    let failed = 0
    let cause: unknown
    results.forEach((result, i) => {
      const msg = messages[i] as JsMsg
      if (result.status === 'fulfilled') {
        this.unconfirmed.delete(msg)
        this.storedSeqs.add(msg.seq)
      } else {
        failed++
        cause ??= result.reason
      }
    })
    return { failed, cause }
  }

  // Right after servers restart the consumer can go without a leader for many seconds (20 s seen on
  // this 2-core machine). Acks are sent again until confirmed, the messages kept alive meanwhile; if
  // the node dies first, JetStream redelivers them after ack_wait and InfluxDB takes the same points again.
  private confirmLater (): void {
    if (this.confirming !== null) return
    const { log } = this.opts
    this.confirming = (async () => {
      while (!this.closed && this.unconfirmed.size > 0) {
        await sleep(CONFIRM_RETRY_MS, undefined, { signal: this.closing.signal }).catch(function closing () { return undefined })
        if (this.closed) return
        const { failed } = await this.confirmEach([...this.unconfirmed])
        if (failed === 0) log.info('acknowledgements of stored telemetry confirmed again')
      }
    })().finally(() => { this.confirming = null })
  }

  /** Hands the held messages back to JetStream at once, for this node or another to read again. */
  rewind (): void {
    for (const msg of this.held) tell(msg, 'nak', this.opts.log)
    this.held.clear()
    this.wake()
  }

  /**
   * Ends reads, stops pulling, waits for commits asked for, then hands back everything held.
   * Acknowledgements still unconfirmed are left: JetStream redelivers those after ack_wait.
   */
  async close (): Promise<void> {
    this.closed = true
    this.closing.abort()
    clearInterval(this.keepAlive)
    this.wake()
    await this.fetched.close()
    await Promise.allSettled([...this.commits])
    await this.confirming
    if (this.unconfirmed.size > 0) this.opts.log.warn({ unconfirmed: this.unconfirmed.size }, 'closing with unconfirmed acknowledgements: those messages are written again after ack_wait')
    this.rewind()
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

/** Whether one of `messages` has stream sequence `seq` (only asked on a redelivery, which is rare). */
function holdsSeq (messages: ReadonlySet<JsMsg>, seq: number): boolean {
  for (const msg of messages) if (msg.seq === seq) return true
  return false
}

/** The last `capacity` numbers added, for membership tests. */
class RecentNumbers {
  private readonly members = new Set<number>()
  private readonly order: number[] = []
  private next = 0

  constructor (private readonly capacity: number) {}

  has (n: number): boolean {
    return this.members.has(n)
  }

  add (n: number): void {
    if (this.members.has(n)) return
    if (this.order.length === this.capacity) this.members.delete(this.order[this.next] as number)
    this.order[this.next] = n
    this.next = (this.next + 1) % this.capacity
    this.members.add(n)
  }
}
