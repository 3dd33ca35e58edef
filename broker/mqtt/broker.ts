// The embedded Aedes broker and the state it keeps per client: session store (bounded queues),
// crew sessions, QoS 2 duplicates and the outgoing guard. main.ts hands these to the hooks and the
// listeners; closing the broker closes them too.
import type { Duplex } from 'node:stream'
import { Aedes, type Client } from 'aedes'
import type { AedesPacket } from 'aedes-packet'
import { OUTGOING_STALL_CHECK_MS, type Config } from '../config.ts'
import type { Metrics } from '../http/metrics.ts'
import { checkAedesVersion } from './aedes-internals.ts'
import type { Logger } from '../log.ts'
import { connectionInfoOf } from './connection-info.ts'
import { createCrewSessions, type CrewSessions } from './guards/crew-sessions.ts'
import type { LogThrottle } from '../log-throttle.ts'
import { createOutgoingGuard, type OutgoingGuard } from './guards/outgoing-buffer.ts'
import { createQos2Duplicates, type Qos2Duplicates } from './guards/qos2-duplicates.ts'
import { SessionStore } from './session-store.ts'

type BrokerConfig = Pick<Config, 'MQTT_CONNECT_TIMEOUT_MS' | 'MQTT_CLIENT_BUFFER_BYTES' | 'MQTT_WRITE_STALL_SEC' | 'MQTT_MAX_QUEUED_MESSAGES' | 'MQTT_MAX_SESSIONS_PER_CREW'>

export interface EmbeddedBroker {
  broker: Aedes
  store: SessionStore
  crewSessions: CrewSessions
  qos2: Qos2Duplicates
  outgoing: OutgoingGuard
  close(): Promise<void>
}

export async function startBroker (config: BrokerConfig, metrics: Metrics, throttle: LogThrottle, rootLog: Logger): Promise<EmbeddedBroker> {
  checkAedesVersion()
  const log = rootLog.child({ module: 'mqtt' })
  /** Client id → its connection now (a takeover replaces it before the old one is gone). */
  const connected = new Map<string, Client>()
  function isConnected (clientId: string): boolean {
    return connected.has(clientId)
  }
  const store = new SessionStore({
    maxQueuedPerClient: config.MQTT_MAX_QUEUED_MESSAGES,
    isConnected,
    isStateTopic (topic) { return topic.startsWith('alarms/') },
    onDropped (clientId, reason) {
      if (reason !== 'queue_full') return
      metrics.limitsExceeded.inc({ limit: 'queued_messages' })
      const suppressed = throttle.take(`queued_messages:${clientId}`)
      if (suppressed !== undefined) log.warn({ clientId, reason: 'queued_messages', max: config.MQTT_MAX_QUEUED_MESSAGES, droppedSinceLast: suppressed }, 'session queue full: oldest message dropped')
    },
  })
  const outgoing = createOutgoingGuard({
    maxBufferBytes: config.MQTT_CLIENT_BUFFER_BYTES,
    stallMs: config.MQTT_WRITE_STALL_SEC * 1000,
    checkIntervalMs: OUTGOING_STALL_CHECK_MS,
    onCut (stream: Duplex, reason, bufferedBytes) {
      metrics.limitsExceeded.inc({ limit: reason })
      const ip = connectionInfoOf(stream).remoteAddress
      const suppressed = throttle.take(`${reason}:${ip}`)
      if (suppressed !== undefined) {
        log.warn({ ip, reason, bufferedBytes, maxBytes: config.MQTT_CLIENT_BUFFER_BYTES, stallSec: config.MQTT_WRITE_STALL_SEC, suppressedSinceLast: suppressed }, 'client does not read what it is sent: disconnected')
      }
    },
  })
  const broker = new Aedes({
    persistence: store,
    connectTimeout: config.MQTT_CONNECT_TIMEOUT_MS,
    maxClientsIdLength: 64,
    heartbeatInterval: 60_000,
    // A write past the (raised) buffer size waits for 'drain' at most this long; the guard cuts first.
    drainTimeout: config.MQTT_WRITE_STALL_SEC * 1000,
  })
  broker.on('client', function connectedNow (client: Client) { connected.set(client.id, client) })
  broker.on('clientDisconnect', function notConnected (client: Client) {
    if (connected.get(client.id) === client) connected.delete(client.id)
  })
  await broker.listen()
  const crewSessions = createCrewSessions({
    maxPerCrew: config.MQTT_MAX_SESSIONS_PER_CREW,
    isConnected,
    dropSession (clientId) {
      store.dropSession(clientId).catch(function notDropped (err: unknown) { log.error({ err, clientId }, 'session not dropped') })
    },
  })
  const qos2 = createQos2Duplicates(function isHeld (client: Client, messageId: number) {
    return store.incomingGetPacket(client, { messageId } as AedesPacket).then(function held () { return true }, function notHeld () { return false })
  })
  return {
    broker,
    store,
    crewSessions,
    qos2,
    outgoing,
    close () {
      outgoing.close()
      return new Promise<void>(function closed (resolve) { broker.close(function done () { resolve() }) })
    },
  }
}
