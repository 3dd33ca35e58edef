// What the gateway itself sends through its embedded broker (notices, alarms), adapted once from
// Aedes' callbacks to promises.
// Every message goes out as a plain (not retained) QoS 1 publish, and the retained copy is written
// to Aedes' persistence directly, before the publish. Aedes numbers a publish when it is called and
// hands it to subscribers only after some async steps — one more for a retained publish — and a
// client drops any message numbered below one it already got (lib/client.js `dedupe`). A retained
// raise published as such could be overtaken by a plain clear issued in the same tick and dropped;
// with one path for all, messages reach subscribers in the order they were numbered. Removing a
// retained message also goes straight to the persistence, so subscribers do not receive an empty
// message.
import type { Aedes } from 'aedes'
import { retainedStoreOf } from './aedes-internals.ts'

export interface BrokerOut {
  /**
   * QoS 1 publish from the gateway; with `retain`, the message is kept for later subscribers first.
   * Resolves once Aedes has routed it.
   */
  publish(topic: string, payload: Buffer, retain: boolean): Promise<void>
  /** Drops the retained message of a topic without delivering anything. */
  removeRetained(topic: string): Promise<void>
}

export function createBrokerOut (broker: Aedes): BrokerOut {
  function route (topic: string, payload: Buffer): Promise<void> {
    return new Promise<void>(function publishing (resolve, reject) {
      broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, function published (err) {
        if (err === undefined || err === null) resolve()
        else reject(err)
      })
    })
  }

  return {
    async publish (topic, payload, retain) {
      // Kept before it is sent: a phone subscribing in between gets it retained (and maybe live too,
      // the same message), never neither.
      if (retain) await retainedStoreOf(broker).storeRetained({ cmd: 'publish', topic, payload, qos: 1, retain: true })
      await route(topic, payload)
    },
    async removeRetained (topic) {
      await retainedStoreOf(broker).storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 1, retain: false })
    },
  }
}
