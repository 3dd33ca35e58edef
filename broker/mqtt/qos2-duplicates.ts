// QoS 2 "exactly once" for what the gateway ingests. Aedes authorizes a PUBLISH (where telemetry is
// ingested) before it looks whether it already holds that message id awaiting PUBREL, so a DUP
// retransmission would be ingested a second time. A QoS 2 message is a duplicate while the same
// client's message id is being ingested, or once Aedes' session store holds it.
import type { Client } from 'aedes'

export interface Qos2Duplicates {
  isDuplicate(client: Client, messageId: number): Promise<boolean>
  /** Ingesting this message starts: a retransmission meanwhile is a duplicate. */
  begin(client: Client, messageId: number): void
  /** Ingesting ended and Aedes was told: from now on its session store answers. */
  end(client: Client, messageId: number): void
}

/** @param isHeld whether Aedes' session store holds this client's message id (awaiting PUBREL) */
export function createQos2Duplicates (isHeld: (client: Client, messageId: number) => Promise<boolean>): Qos2Duplicates {
  const ingesting = new WeakMap<Client, Set<number>>()
  return {
    async isDuplicate (client, messageId) {
      return ingesting.get(client)?.has(messageId) === true || await isHeld(client, messageId)
    },
    begin (client, messageId) {
      let ids = ingesting.get(client)
      if (ids === undefined) {
        ids = new Set()
        ingesting.set(client, ids)
      }
      ids.add(messageId)
    },
    end (client, messageId) {
      // Aedes stores the message a few promise steps after the authorization callback; a
      // retransmission can only be read in a later I/O turn, after this immediate.
      setImmediate(function released () { ingesting.get(client)?.delete(messageId) })
    },
  }
}
