// What the gateway itself sends through its embedded broker (notices, alarms), adapted once from
// Aedes' callbacks to promises. Removing a retained message goes straight to Aedes' persistence,
// so subscribers do not also receive an empty message.
import type { Aedes } from 'aedes'

export interface BrokerOut {
  /** QoS 1 publish from the gateway; resolves once Aedes has routed (and, if retained, stored) it. */
  publish(topic: string, payload: Buffer, retain: boolean): Promise<void>
  /** Drops the retained message of a topic without delivering anything. */
  removeRetained(topic: string): Promise<void>
}

export function createBrokerOut (broker: Aedes): BrokerOut {
  return {
    publish (topic, payload, retain) {
      return new Promise<void>(function publishing (resolve, reject) {
        broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain, dup: false }, function published (err) {
          if (err === undefined || err === null) resolve()
          else reject(err)
        })
      })
    },
    async removeRetained (topic) {
      await (broker as unknown as { persistence: { storeRetained(packet: { topic: string; payload: Buffer }): Promise<void> } })
        .persistence.storeRetained({ topic, payload: Buffer.alloc(0) })
    },
  }
}
