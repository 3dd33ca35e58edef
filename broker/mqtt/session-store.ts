// The embedded broker's session state: Aedes' in-memory persistence with the part it leaves
// unbounded replaced. Aedes queues every QoS 1 message for a persistent session (clean = false)
// here until the client acknowledges it, also while the client is away. This store:
// - keeps at most `maxQueuedPerClient` messages per session, dropping the oldest beyond it;
// - for a client that is away, keeps only the newest message of each alarm topic, so a crew that
//   comes back receives every alarm's current state once, not each change it missed;
// - can drop a whole session (subscriptions, queue, QoS 2 state) when an account has too many.
import { Readable } from 'node:stream'
import type { Client, PublishPacket } from 'aedes'
import aedesPacket, { type AedesPacket } from 'aedes-packet'
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js'

// The module is Aedes' packet constructor (its types describe it as a namespace).
const Packet = aedesPacket as unknown as new (packet: AedesPacket) => AedesPacket

/** What Aedes queues: a PUBLISH with the broker's id and counter, and its messageId once sent. */
type Queued = PublishPacket & { brokerId: string; brokerCounter: number }

export type QueueDrop = 'superseded' | 'queue_full'

export interface SessionStoreOptions {
  maxQueuedPerClient: number
  /** Whether this client id is connected now (only an absent client's alarm messages are coalesced). */
  isConnected(clientId: string): boolean
  /** Topics whose newest message supersedes the ones queued before it. */
  isStateTopic(topic: string): boolean
  onDropped?(clientId: string, reason: QueueDrop): void
}

export class SessionStore extends MemoryPersistence {
  readonly #options: SessionStoreOptions
  /** Client id → its queued messages, oldest first; entries get a messageId once sent. */
  readonly #queues = new Map<string, Queued[]>()

  constructor (options: SessionStoreOptions) {
    super()
    this.#options = options
  }

  #enqueue (clientId: string, aedesPacket: AedesPacket): void {
    const packet = aedesPacket as Queued
    let queue = this.#queues.get(clientId)
    if (queue === undefined) {
      queue = []
      this.#queues.set(clientId, queue)
    }
    if (this.#options.isStateTopic(packet.topic) && !this.#options.isConnected(clientId)) {
      const older = queue.findIndex(function sameTopicUnsent (queued) { return queued.topic === packet.topic && queued.messageId === undefined })
      if (older !== -1) {
        queue.splice(older, 1)
        this.#options.onDropped?.(clientId, 'superseded')
      }
    }
    if (queue.length >= this.#options.maxQueuedPerClient) {
      queue.shift()
      this.#options.onDropped?.(clientId, 'queue_full')
    }
    // Each session gets its own copy: Aedes sets the copy's messageId when it sends it.
    queue.push(new Packet(packet) as Queued)
  }

  // Aedes awaits each of these; the work itself is synchronous.
  override outgoingEnqueue (sub: { clientId: string }, packet: AedesPacket): Promise<void> {
    this.#enqueue(sub.clientId, packet)
    return Promise.resolve()
  }

  override outgoingEnqueueCombi (subs: { clientId: string }[], packet: AedesPacket): Promise<void> {
    for (const sub of subs) this.#enqueue(sub.clientId, packet)
    return Promise.resolve()
  }

  /** Records the messageId a queued message was sent with (matched by its broker counter). */
  override outgoingUpdate (client: Client, packet: AedesPacket): Promise<void> {
    const sent = packet as Queued
    const queue = this.#queues.get(client.id) ?? []
    for (let i = 0; i < queue.length; i++) {
      const queued = queue[i] as Queued
      if (queued.brokerId === sent.brokerId) {
        if (queued.brokerCounter === sent.brokerCounter) {
          if (sent.messageId !== undefined) queued.messageId = sent.messageId
          return Promise.resolve()
        }
      } else if (queued.messageId === sent.messageId) {
        // Message ids wrap around: a resent message replaces the one its id last stood for.
        queue[i] = sent
        return Promise.resolve()
      }
    }
    return Promise.reject(new Error('no such packet'))
  }

  /** The client acknowledged a message: it leaves the queue. */
  override outgoingClearMessageId (client: Client, packet: AedesPacket): Promise<AedesPacket> {
    const queue = this.#queues.get(client.id) ?? []
    const index = queue.findIndex(function sameId (queued) { return queued.messageId === packet.messageId })
    // An unknown id is no error: Aedes resolves with nothing.
    if (index === -1) return Promise.resolve(undefined as unknown as AedesPacket)
    const [cleared] = queue.splice(index, 1)
    if (queue.length === 0) this.#queues.delete(client.id)
    return Promise.resolve(cleared as unknown as AedesPacket)
  }

  override outgoingStream (client: Client): Readable {
    return Readable.from([...(this.#queues.get(client.id) ?? [])])
  }

  /** Messages queued for this client id now. */
  queuedFor (clientId: string): number {
    return this.#queues.get(clientId)?.length ?? 0
  }

  /** Forgets a session that is not connected: its subscriptions, queue and QoS 2 state. */
  async dropSession (clientId: string): Promise<void> {
    const client = { id: clientId } as Client
    this.#queues.delete(clientId)
    await this.cleanSubscriptions(client)
    await this.cleanIncoming(client)
  }
}
