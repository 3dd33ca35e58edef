// Accepted sockets → a connect storm's priority over established clients' packets. libuv (1.45 and
// later, Node 20) accepts one connection per listening handle and event-loop turn, so the accept rate
// is the turn rate times the handles (accept-handles.ts): under full telemetry load a turn parses what
// every publisher sent and lasts 10–15 ms. While connections keep arriving, established clients' bytes
// wait and are parsed within what is left of a short target turn: accepts and CONNECTs go first, and
// telemetry keeps a share of every turn, so a flood of connects slows it but cannot stop it.
import { performance } from 'node:perf_hooks'
import type { Client } from 'aedes'
import { wrapParse } from '../aedes-internals.ts'

export interface ConnectPriorityOptions {
  /** Length a loop turn aims at while connections keep arriving, ms. */
  stormTurnMs: number
  /** Parsing time established clients get in every such turn however long the rest took, ms. */
  minParseMs: number
  /** Bytes one client may have waiting; more are parsed at once (bounds memory under a flood). */
  maxHeldBytesPerClient: number
}


export interface ConnectPriority {
  /** A listener accepted a socket: its accept queue may hold more. */
  noteAccept(): void
  /**
   * Puts the turn budget in front of this Aedes client's packet parser. Call before any other parser
   * guard is installed, so that those see bytes as they arrive and only accepted bytes wait here.
   */
  attach(client: Client): void
  /** Parses whatever still waits and stops. */
  close(): void
}

interface Held {
  readonly client: Client
  readonly parse: (chunk: Buffer) => unknown
  chunks: Buffer[]
  bytes: number
  isQueued: boolean
}

export function createConnectPriority (options: ConnectPriorityOptions): ConnectPriority {
  const { stormTurnMs, minParseMs, maxHeldBytesPerClient } = options
  let isStorm = false
  let hasAcceptedThisTurn = false
  let lastTurnEndMs = 0
  let marker: NodeJS.Immediate | undefined
  // Clients with bytes waiting, first come first served.
  let queue: Held[] = []

  function arm (): void {
    marker ??= setImmediate(endOfTurn)
  }

  // Runs in the check phase: after this turn's poll phase (where the accept happened), before the
  // next turn's. Re-armed from here, it runs once per turn for as long as there is anything to do.
  function endOfTurn (): void {
    marker = undefined
    const nowMs = performance.now()
    const turnMs = lastTurnEndMs === 0 ? Infinity : nowMs - lastTurnEndMs
    isStorm = hasAcceptedThisTurn
    hasAcceptedThisTurn = false
    drain(isStorm ? Math.max(minParseMs, stormTurnMs - turnMs) : Infinity)
    lastTurnEndMs = isStorm ? performance.now() : 0
    if (isStorm || queue.length > 0) arm()
  }

  function drain (budgetMs: number): void {
    const deadlineMs = performance.now() + budgetMs
    const work = queue
    queue = []
    let done = 0
    while (done < work.length) {
      flush(work[done++] as Held)
      if (performance.now() >= deadlineMs) break
    }
    // Clients not reached keep their place, ahead of any that queued meanwhile.
    if (done < work.length) queue = work.slice(done).concat(queue)
  }

  function flush (held: Held): void {
    const chunks = held.chunks
    held.chunks = []
    held.bytes = 0
    held.isQueued = false
    if (held.client.closed) return
    for (const chunk of chunks) held.parse(chunk)
  }


  /** The parse step of one client: its bytes wait while a storm lasts, in order. */
  function heldInTurn (client: Client, held: Held): (chunk: Buffer) => unknown {
    return function parseInTurn (chunk: Buffer): unknown {
      // Until it is connected a client's bytes are its CONNECT (and what follows it): never held.
      if (!client.connected || (!isStorm && held.chunks.length === 0)) return held.parse(chunk)
      held.chunks.push(chunk)
      held.bytes += chunk.length
      if (held.bytes > maxHeldBytesPerClient) {
        // In order, now; the client's place in the queue then finds nothing to do.
        flush(held)
        return undefined
      }
      if (!held.isQueued) {
        held.isQueued = true
        queue.push(held)
        arm()
      }
      return undefined
    }
  }

  return {
    noteAccept () {
      hasAcceptedThisTurn = true
      isStorm = true
      arm()
    },
    attach (client) {
      wrapParse(client, function turnBudget (parse) {
        return heldInTurn(client, { client, parse, chunks: [], bytes: 0, isQueued: false })
      })
    },
    close () {
      if (marker !== undefined) clearImmediate(marker)
      marker = undefined
      isStorm = false
      const work = queue
      queue = []
      for (const held of work) flush(held)
    },
  }
}
