// The only file that speaks Aedes' callback API: authenticate, authorizePublish and
// authorizeSubscribe adapt to the promise-based stages here, once (STYLE.md §9.3).
// A telemetry publish is handed to ingest inside authorizePublish, because Aedes 1.x writes the
// QoS 1 PUBACK right after that callback (lib/handlers/publish.js), before any subscriber runs.
import type { Aedes, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes'
import { GatewayError, isGatewayError } from '../errors.ts'
import type { Metrics } from '../http/metrics.ts'
import type { Ingest } from '../ingest/ingest.ts'
import type { Logger } from '../log.ts'
import type { Registry } from '../registry/registry.ts'
import { authenticateClient, type CrewIdentity, type Identity } from './authenticate.ts'
import { isCrewSubscriptionAllowed, isOwnSubscription, parseAckTopic, type AlarmTopic } from './topics.ts'

export interface HookOptions {
  registry: Registry
  ingest: Ingest
  metrics: Metrics
  log: Logger
  /** A crew acknowledged an alarm (the alarm engine decides whether it may). */
  onAcknowledge?(crew: CrewIdentity, alarm: AlarmTopic, payload: Buffer): Promise<void>
}

export interface BrokerHooks {
  identityOf(client: Client): Identity | undefined
  /** Closes the sessions of these device ids / crew names (removed from the registry). */
  disconnect(names: readonly string[]): void
}

/** Error for Aedes' authenticate callback; `returnCode` goes into the CONNACK [MQTT-3.2.2-3]. */
function connectRefusal (reason: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(reason), { returnCode })
}

export function installHooks (broker: Aedes, options: HookOptions): BrokerHooks {
  const { registry, ingest, metrics } = options
  const log = options.log.child({ module: 'mqtt' })
  const identities = new WeakMap<Client, Identity>()
  const clientsByName = new Map<string, Set<Client>>()

  broker.authenticate = function authenticate (client, username, password, callback) {
    const outcome = authenticateClient(registry, log, client.id, username, password)
    if (!outcome.ok) {
      metrics.authFailures.inc({ reason: outcome.reason })
      log.warn({ clientId: client.id, username, reason: outcome.reason, ip: remoteAddress(client) }, 'connection refused')
      // 4 = bad user name or password; 5 = not authorized [MQTT-3.2.2-3]
      const returnCode = outcome.reason === 'bad_secret' || outcome.reason === 'unknown_user' ? 4 : 5
      callback(connectRefusal(outcome.reason, returnCode), false)
      return
    }
    const identity = outcome.identity
    identities.set(client, identity)
    const name = identity.role === 'device' ? identity.id : identity.name
    let sessions = clientsByName.get(name)
    if (sessions === undefined) {
      sessions = new Set()
      clientsByName.set(name, sessions)
    }
    sessions.add(client)
    identity.log.debug('connected')
    callback(null, true)
  }

  broker.on('clientDisconnect', function forgetClient (client: Client) {
    const identity = identities.get(client)
    if (identity === undefined) return
    const name = identity.role === 'device' ? identity.id : identity.name
    const sessions = clientsByName.get(name)
    sessions?.delete(client)
    if (sessions?.size === 0) clientsByName.delete(name)
  })

  broker.authorizePublish = function authorizePublish (client, packet: PublishPacket, callback) {
    const identity = client === null ? undefined : identities.get(client)
    if (identity === undefined) {
      callback(new Error('not authenticated'))
      return
    }
    if (identity.role === 'device') {
      if (packet.topic === identity.topics.telemetry) {
        ingest.handleTelemetry(identity, toBuffer(packet.payload)).then(
          function telemetryDurable () { callback(null) },
          function telemetryFailed (err: unknown) {
            if (isGatewayError(err, 'CSG_SPOOL_FULL')) metrics.spoolFullRefusals.inc()
            identity.log.error({ err }, 'telemetry not stored; closing the connection so the device retries')
            callback(err instanceof Error ? err : new Error(String(err)))
          },
        )
        return
      }
      if (packet.topic === identity.topics.status) {
        callback(null)
        return
      }
      denyPublish(identity, packet.topic, callback)
      return
    }
    const alarm = parseAckTopic(packet.topic)
    if (alarm === undefined || options.onAcknowledge === undefined ||
      !isCrewSubscriptionAllowed(identity.districts, `alarms/${alarm.district}/#`)) {
      denyPublish(identity, packet.topic, callback)
      return
    }
    options.onAcknowledge(identity, alarm, toBuffer(packet.payload)).then(
      function acknowledged () { callback(null) },
      function acknowledgeFailed (err: unknown) {
        identity.log.error({ err, topic: packet.topic }, 'acknowledgement failed')
        callback(err instanceof Error ? err : new Error(String(err)))
      },
    )
  }

  function denyPublish (identity: Identity, topic: string, callback: (err: Error) => void): void {
    metrics.aclDenials.inc({ action: 'publish' })
    identity.log.warn({ topic, reason: 'not_own_topic' }, 'publish refused; closing the connection')
    callback(new GatewayError('CSG_TOPIC_FORBIDDEN', `${identity.role} may not publish to ${topic}`))
  }

  broker.authorizeSubscribe = function authorizeSubscribe (client, subscription: Subscription, callback) {
    const identity = identities.get(client)
    const allowed = identity !== undefined && (identity.role === 'device'
      ? isOwnSubscription(identity.topics, subscription.topic)
      : isCrewSubscriptionAllowed(identity.districts, subscription.topic))
    if (!allowed) {
      metrics.aclDenials.inc({ action: 'subscribe' })
      identity?.log.warn({ topic: subscription.topic, reason: 'not_own_topic' }, 'subscription refused')
      callback(null, null) // SUBACK 0x80 for this filter; the connection stays up
      return
    }
    callback(null, subscription)
  }

  broker.on('clientError', function logClientError (client: Client, err: Error) {
    const identity = identities.get(client)
    ;(identity?.log ?? log).info({ clientId: client.id, err: { message: err.message, code: (err as { code?: string }).code } }, 'client connection error')
  })
  broker.on('connectionError', function logConnectionError (_client: Client, err: Error) {
    log.info({ err: { message: err.message } }, 'connection error before CONNECT')
  })

  return {
    identityOf (client) { return identities.get(client) },
    disconnect (names) {
      for (const name of names) {
        for (const client of clientsByName.get(name) ?? []) {
          log.info({ name }, 'removed from the registry; closing its connection')
          client.close()
        }
        ingest.forgetDevice(name)
      }
    },
  }
}

function toBuffer (payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload
}

/** The peer address, when the connection is a socket (tcp/tls) or carries one (websocket). */
function remoteAddress (client: Client): string | undefined {
  return (client.conn as { remoteAddress?: string }).remoteAddress
}
