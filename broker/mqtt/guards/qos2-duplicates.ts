// QoS 2 "exactly once" for what the gateway ingests. Aedes authorizes a PUBLISH (where telemetry is
// ingested) before it looks whether it already holds that message id awaiting PUBREL, so a DUP
// retransmission would be ingested a second time. A QoS 2 message is a duplicate while the same
// client's message id is claimed (being ingested), or once Aedes' session store holds it.
import type { Client } from 'aedes'

export interface Qos2Duplicates {
  /**
   * Claims a client's message id for ingesting: true when this message is the first with it (the
   * caller ingests and then calls release), false when it is a duplicate (nothing to release).
   * The claim is taken synchronously, so packets of one socket chunk cannot both win it.
   */
  claim(client: Client, messageId: number): Promise<boolean>
  /** Ingesting ended and Aedes was told: from now on its session store answers for this id. */
  release(client: Client, messageId: number): void
}

/** @param isHeld whether Aedes' session store holds this client's message id (awaiting PUBREL) */
export function createQos2Duplicates (isHeld: (client: Client, messageId: number) => Promise<boolean>): Qos2Duplicates {
  const claimed = new WeakMap<Client, Set<number>>()
  function drop (client: Client, messageId: number): void {
    claimed.get(client)?.delete(messageId)
  }
  return {
    async claim (client, messageId) {
      let ids = claimed.get(client)
      if (ids === undefined) {
        ids = new Set()
        claimed.set(client, ids)
      }
      if (ids.has(messageId)) return false
      ids.add(messageId)
      let held: boolean
      try {
        held = await isHeld(client, messageId)
      } catch (err) {
        drop(client, messageId)
        throw err
      }
      if (held) drop(client, messageId)
      return !held
    },
    release (client, messageId) {
      // Aedes stores the message a few promise steps after the authorization callback; a
      // retransmission can only be read in a later I/O turn, after this immediate.
      setImmediate(function released () { drop(client, messageId) })
    },
  }
}
