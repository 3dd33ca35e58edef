// Delivery → Aedes' authorizeForward hook: every message on its way to a client passes here, also
// what a persistent session queued. Only what the client may subscribe to now goes out (a session
// resumed under another account's client id, or a crew whose districts changed, gets nothing else;
// a consumer only SensorThings topics within its scope),
// and a client that does not read what it was sent is cut before its buffer grows further.
// SensorThings topics (v1.1/…) go to crews and consumers, each message as the client's scope sees it.
import type { Aedes, PublishPacket } from 'aedes'
import type { ConsumerScope } from '../../consumers/scope.ts'
import { scopeOfClient } from '../client-scope.ts'
import type { OutgoingGuard } from '../guards/outgoing-buffer.ts'
import { isCrewIncidentSubscriptionAllowed, isCrewSubscriptionAllowed, isOwnEscalationFilter } from '../topics.ts'
import type { ClientTable } from './client-table.ts'

/** What the hooks ask the SensorThings MQTT extension (broker/sta/mqtt-feed.ts). */
export interface StaTopicAccess {
  maySubscribe(scope: ConsumerScope | undefined, filter: string): boolean
  mayDeliver(scope: ConsumerScope | undefined, packet: PublishPacket): boolean
}

const STA_TOPIC_ROOT = 'v1.1/'

export function installAuthorizeForward (broker: Aedes, clients: ClientTable, outgoing: OutgoingGuard | undefined, sta?: StaTopicAccess): void {
  broker.authorizeForward = function authorizeForward (client, packet) {
    const identity = clients.identityOf(client)
    if (identity === undefined) return null
    const mayReceive = identity.role === 'device'
      ? packet.topic === identity.topics.errors || packet.topic.startsWith(identity.topics.commandsPrefix)
      : packet.topic.startsWith(STA_TOPIC_ROOT)
        ? sta?.mayDeliver(scopeOfClient(identity), packet) === true
        : identity.role !== 'consumer' &&
          (isCrewSubscriptionAllowed(identity.districts, packet.topic) || isCrewIncidentSubscriptionAllowed(identity.districts, packet.topic) || isOwnEscalationFilter(identity.name, packet.topic))
    if (!mayReceive) return null
    if (outgoing !== undefined && !outgoing.admits(client.conn, wireBytes(packet))) return null
    return packet
  }
}

/** A little more than a PUBLISH takes on the wire: fixed header, topic, packet id, payload. */
function wireBytes (packet: PublishPacket): number {
  return 16 + packet.topic.length * 3 + (typeof packet.payload === 'string' ? packet.payload.length * 3 : packet.payload.length)
}
