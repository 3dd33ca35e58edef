// The only file that speaks Aedes' callback API: authenticate, authorizePublish, authorizeSubscribe
// and authorizeForward adapt to the promise-based stages here, once.
// A telemetry publish is handed to ingest inside authorizePublish, because Aedes 1.x writes the
// QoS 1 PUBACK right after that callback (lib/handlers/publish.js), before any subscriber runs.
// What clients publish to the gateway (telemetry, status, acknowledgements) is consumed here and
// never routed to other clients nor retained.
import type { Aedes, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes'
import { GatewayError, isGatewayError } from '../errors.ts'
import type { Metrics } from '../http/metrics.ts'
import type { Ingest } from '../ingest/ingest.ts'
import type { Logger } from '../log.ts'
import type { Registry } from '../registry/registry.ts'
import type { CrewIdentity, DeviceIdentity, Identity } from './authenticate.ts'
import { skipRoutingOf } from './aedes-internals.ts'
import { createConnectGuard } from './guards/connect-guard.ts'
import { connectionInfoOf } from './connection-info.ts'
import type { CrewSessions } from './guards/crew-sessions.ts'
import { createLogThrottle, type LogThrottle } from '../log-throttle.ts'
import type { OutgoingGuard } from './guards/outgoing-buffer.ts'
import type { Qos2Duplicates } from './guards/qos2-duplicates.ts'
import { createRateLimiter } from './guards/publish-rate.ts'
import { isCrewSubscriptionAllowed, isOwnSubscription, parseAckTopic, topicLimitExceeded, type AlarmTopic } from './topics.ts'

/**
 * Largest acknowledgement payload: `{"note": …}` with a note of at most 500 characters, each
 * escaped to at most six bytes. Larger ones are ignored, never parsed.
 */
export const MAX_ACK_PAYLOAD_BYTES = 4096

export interface HookOptions {
  registry: Registry
  ingest: Ingest
  metrics: Metrics
  log: Logger
  /** A crew acknowledged an alarm (the alarm engine decides whether it may). */
  onAcknowledge?(crew: CrewIdentity, alarm: AlarmTopic, payload: Buffer): Promise<void>
  /** A device's publish was refused over its rate (first time in a log period): record it and tell the device. */
  onRateLimited?(device: DeviceIdentity, payload: Buffer, refusedSinceLast: number): Promise<void>
  limits?: Partial<HookLimits>
  /** Shared with the listeners, so one offender is logged once per period. */
  throttle?: LogThrottle
  /** Cuts clients that do not read what is sent to them. */
  outgoing?: OutgoingGuard
  /** QoS 2 retransmissions already ingested. */
  qos2: Qos2Duplicates
  crewSessions: CrewSessions
}

/** Abuse limits applied in the hooks; defaults as in broker/config.ts. */
export interface HookLimits {
  keepaliveMaxSec: number
  maxTopicBytes: number
  maxTopicLevels: number
  maxSubscriptions: number
  publishRatePerSec: number
  publishBurst: number
  /** Longest a publish above the rate is held before its PUBACK; further ahead it is refused. */
  publishDelayMaxMs: number
  logIntervalMs: number
  authBackoffAfter: number
  authLockoutAfter: number
  authWindowMs: number
  authLockoutMs: number
  authBackoffMaxMs: number
}

export const HOOK_LIMIT_DEFAULTS: Readonly<HookLimits> = Object.freeze({
  keepaliveMaxSec: 3600,
  maxTopicBytes: 256,
  maxTopicLevels: 8,
  maxSubscriptions: 32,
  publishRatePerSec: 100,
  publishBurst: 5000,
  publishDelayMaxMs: 10_000,
  logIntervalMs: 60_000,
  authBackoffAfter: 5,
  authLockoutAfter: 20,
  authWindowMs: 60_000,
  authLockoutMs: 300_000,
  authBackoffMaxMs: 10_000,
})

export interface BrokerHooks {
  identityOf(client: Client): Identity | undefined
  /** Closes the sessions of these device ids / crew names (removed from the registry). */
  disconnect(names: readonly string[]): void
}

/** Error for Aedes' authenticate callback; `returnCode` goes into the CONNACK [MQTT-3.2.2-3]. */
function connectRefusal (reason: string, returnCode: 2 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(reason), { returnCode })
}

export function installHooks (broker: Aedes, options: HookOptions): BrokerHooks {
  const { registry, ingest, metrics, qos2, crewSessions } = options
  const log = options.log.child({ module: 'mqtt' })
  const identities = new WeakMap<Client, Identity>()
  const clientsByName = new Map<string, Set<Client>>()
  const limits: HookLimits = { ...HOOK_LIMIT_DEFAULTS, ...options.limits }
  const throttle = options.throttle ?? createLogThrottle(limits.logIntervalMs)
  const connects = new WeakMap<Client, { keepaliveSec: number; willTopic: string | undefined; clean: boolean }>()
  const subscriptions = new WeakMap<Client, Set<string>>()
  const rates = createRateLimiter({ ratePerSec: limits.publishRatePerSec, burst: limits.publishBurst, maxDelayMs: limits.publishDelayMaxMs })
  const guard = createConnectGuard({
    registry,
    metrics,
    log,
    throttle,
    crewSessions,
    keepaliveMaxSec: limits.keepaliveMaxSec,
    login: {
      backoffAfter: limits.authBackoffAfter,
      lockoutAfter: limits.authLockoutAfter,
      windowMs: limits.authWindowMs,
      lockoutMs: limits.authLockoutMs,
      backoffMaxMs: limits.authBackoffMaxMs,
    },
  })

  // Telemetry, status and acknowledgements are for the gateway alone: no client may receive them,
  // and Aedes' routing after the PUBACK (retained store, offline queues, emitter, 'publish' event)
  // would hand them on (a crew's retained "ack" reached every crew) and cost about 9 % of the
  // gateway's CPU under load (`npm run bench`, profiled). A packet the hooks consumed ends here;
  // what the gateway itself publishes (alarms, notices) is routed as usual.
  const consumed = new WeakSet<PublishPacket>()
  skipRoutingOf(broker, function isConsumed (packet) { return consumed.delete(packet) })

  broker.preConnect = function preConnect (client, packet, callback) {
    connects.set(client, { keepaliveSec: packet.keepalive ?? 0, willTopic: packet.will?.topic, clean: packet.clean !== false })
    callback(null, true)
  }

  broker.authenticate = function authenticate (client, username, password, callback) {
    const info = connectionInfoOf(client.conn)
    const connect = connects.get(client)
    const decision = guard.decide({
      clientId: client.id,
      username: username ?? undefined,
      password: password ?? undefined,
      keepaliveSec: connect?.keepaliveSec,
      ip: info.remoteAddress,
      clientCertCn: info.clientCertCn,
      willTopic: connect?.willTopic,
      clean: connect?.clean ?? true,
    })
    if (!decision.ok) {
      const { reason, returnCode, delayMs } = decision
      if (delayMs === 0) {
        callback(connectRefusal(reason, returnCode), false)
        return
      }
      // Backoff: the refusal waits; Aedes ignores it if the client went away meanwhile.
      setTimeout(function refuseLater () { callback(connectRefusal(reason, returnCode), false) }, delayMs).unref()
      return
    }
    const identity = decision.identity
    identities.set(client, identity)
    const name = identity.role === 'device' ? identity.id : identity.name
    let sessions = clientsByName.get(name)
    if (sessions === undefined) {
      sessions = new Set()
      clientsByName.set(name, sessions)
    }
    sessions.add(client)
    identity.log.debug({ transport: info.transport, byCertificate: info.clientCertCn !== undefined }, 'connected')
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
    if (client === null || identity === undefined) {
      callback(new Error('not authenticated'))
      return
    }
    if (packet.qos > 0 && packet.messageId === 0) {
      // [MQTT-2.3.1-1]: a QoS 1 or 2 PUBLISH carries a non-zero packet identifier; PUBACK 0 is no
      // answer. (A will, published by Aedes for a client that went away, has none at all.)
      refuseProtocol(identity, 'packet_id_zero', callback)
      return
    }
    const topicLimit = topicLimitExceeded(packet.topic, limits.maxTopicBytes, limits.maxTopicLevels)
    if (topicLimit !== undefined) {
      metrics.limitsExceeded.inc({ limit: topicLimit })
      denyPublish(identity, packet.topic.slice(0, limits.maxTopicBytes), callback, topicLimit)
      return
    }
    const ack = identity.role === 'crew' ? parseAckTopic(packet.topic) : undefined
    const isOwnPublish = identity.role === 'device'
      ? packet.topic === identity.topics.telemetry || packet.topic === identity.topics.status
      : ack !== undefined && options.onAcknowledge !== undefined && isCrewSubscriptionAllowed(identity.districts, `alarms/${ack.district}/#`)
    if (!isOwnPublish) {
      denyPublish(identity, packet.topic, callback)
      return
    }
    consumed.add(packet)
    const messageId = packet.qos === 2 ? packet.messageId : undefined
    if (messageId === undefined) {
      pace(client, identity, packet, callback)
      return
    }
    qos2.claim(client, messageId).then(
      function claimed (isFirst) {
        // Aedes answers a duplicate with PUBREC again and publishes nothing.
        if (!isFirst) {
          callback(null)
          return
        }
        pace(client, identity, packet, function releaseClaim (err: Error | null) {
          callback(err)
          qos2.release(client, messageId)
        })
      },
      function duplicateCheckFailed (err: unknown) { callback(err instanceof Error ? err : new Error(String(err))) },
    )
  }

  /** Within the client's rate: consume now; above it: later (the PUBACK waits), or refuse. */
  function pace (client: Client, identity: Identity, packet: PublishPacket, callback: (err: Error | null) => void): void {
    const delayMs = rates.reserve(nameOf(identity))
    if (delayMs === 0) {
      consume(client, identity, packet, callback)
      return
    }
    if (delayMs === undefined) {
      refuseOverRate(identity, toBuffer(packet.payload), callback)
      return
    }
    metrics.limitsExceeded.inc({ limit: 'publish_rate' })
    const suppressed = throttle.take(`publish_rate:${nameOf(identity)}`)
    if (suppressed !== undefined) {
      identity.log.warn({ reason: 'publish_rate', ratePerSec: limits.publishRatePerSec, burst: limits.publishBurst, delayMs, delayedSinceLast: suppressed }, 'publish rate exceeded: acknowledging later')
    }
    setTimeout(function paced () {
      // Gone meanwhile: it never got its PUBACK and sends the message again.
      if (client.closed) callback(new Error('connection closed'))
      else consume(client, identity, packet, callback)
    }, delayMs)
  }

  /** A publish to the client's own topics, ingested or applied before its PUBACK. */
  function consume (client: Client, identity: Identity, packet: PublishPacket, callback: (err: Error | null) => void): void {
    if (identity.role === 'device') {
      if (packet.topic === identity.topics.telemetry) ingestTelemetry(identity, packet, callback)
      else callback(null) // status: nothing is kept of it yet
      return
    }
    acknowledge(identity, packet, callback)
  }

  function ingestTelemetry (device: DeviceIdentity, packet: PublishPacket, callback: (err: Error | null) => void): void {
    ingest.handleTelemetry(device, toBuffer(packet.payload)).then(
      function telemetryDurable () { callback(null) },
      function telemetryFailed (err: unknown) {
        const isFull = isGatewayError(err, 'CSG_SPOOL_FULL')
        if (isFull) metrics.spoolFullRefusals.inc()
        const suppressed = throttle.take(`not_stored:${device.id}`)
        if (suppressed !== undefined) {
          device.log.error({ err, reason: isFull ? 'spool_full' : 'not_stored', suppressedSinceLast: suppressed }, 'telemetry not stored; closing the connection so the device retries')
        }
        callback(err instanceof Error ? err : new Error(String(err)))
      },
    )
  }

  function acknowledge (crew: CrewIdentity, packet: PublishPacket, callback: (err: Error | null) => void): void {
    const alarm = parseAckTopic(packet.topic) as AlarmTopic
    const payload = toBuffer(packet.payload)
    if (payload.length > MAX_ACK_PAYLOAD_BYTES) {
      metrics.limitsExceeded.inc({ limit: 'ack_size' })
      const suppressed = throttle.take(`ack_size:${crew.name}`)
      if (suppressed !== undefined) crew.log.warn({ topic: packet.topic, reason: 'ack_too_large', bytes: payload.length, maxBytes: MAX_ACK_PAYLOAD_BYTES, suppressedSinceLast: suppressed }, 'acknowledgement ignored')
      callback(null)
      return
    }
    options.onAcknowledge?.(crew, alarm, payload).then(
      function acknowledged () { callback(null) },
      function acknowledgeFailed (err: unknown) {
        crew.log.error({ err, topic: packet.topic }, 'acknowledgement failed')
        callback(err instanceof Error ? err : new Error(String(err)))
      },
    )
  }

  function denyPublish (identity: Identity, topic: string, callback: (err: Error) => void, reason = 'not_own_topic'): void {
    metrics.aclDenials.inc({ action: 'publish' })
    const suppressed = throttle.take(`publish_refused:${nameOf(identity)}`)
    if (suppressed !== undefined) identity.log.warn({ topic, reason, suppressedSinceLast: suppressed }, 'publish refused; closing the connection')
    callback(new GatewayError('CSG_TOPIC_FORBIDDEN', `${identity.role} may not publish to ${topic}`))
  }

  function refuseProtocol (identity: Identity, reason: string, callback: (err: Error) => void): void {
    metrics.protocolErrors.inc({ reason })
    const suppressed = throttle.take(`protocol:${nameOf(identity)}`)
    if (suppressed !== undefined) identity.log.warn({ reason, suppressedSinceLast: suppressed }, 'protocol violation; closing the connection')
    callback(new GatewayError('CSG_PROTOCOL_VIOLATION', `${reason}`))
  }

  // A client further ahead of its rate than the longest delay gets no PUBACK and loses its
  // connection: it keeps the message and sends it again after reconnecting, so nothing it was told
  // is stored gets lost. The first refusal of each log period is recorded durably (a `rejected`
  // point) and the device told on its errors topic.
  function refuseOverRate (identity: Identity, payload: Buffer, callback: (err: Error) => void): void {
    metrics.limitsExceeded.inc({ limit: 'publish_rate_refused' })
    const refusal = new GatewayError('CSG_PUBLISH_RATE', `${identity.role} publishes above ${limits.publishRatePerSec}/s beyond the longest delay of ${limits.publishDelayMaxMs} ms`)
    const suppressed = throttle.take(`publish_rate_refused:${nameOf(identity)}`)
    if (suppressed === undefined) {
      callback(refusal)
      return
    }
    identity.log.warn({ reason: 'publish_rate', ratePerSec: limits.publishRatePerSec, burst: limits.publishBurst, maxDelayMs: limits.publishDelayMaxMs, refusedSinceLast: suppressed }, 'publish rate exceeded beyond the longest delay: closing the connection without acknowledging')
    if (identity.role !== 'device' || options.onRateLimited === undefined) {
      callback(refusal)
      return
    }
    options.onRateLimited(identity, payload, suppressed).then(
      function rateLimitRecorded () { callback(refusal) },
      function rateLimitNotRecorded (err: unknown) {
        identity.log.warn({ err }, 'could not record the rate-limited message')
        callback(refusal)
      },
    )
  }

  broker.authorizeSubscribe = function authorizeSubscribe (client, subscription: Subscription, callback) {
    const identity = identities.get(client)
    const topicLimit = topicLimitExceeded(subscription.topic, limits.maxTopicBytes, limits.maxTopicLevels)
    if (topicLimit !== undefined) {
      refuseSubscription(identity, subscription.topic.slice(0, limits.maxTopicBytes), topicLimit, callback)
      return
    }
    const allowed = identity !== undefined && (identity.role === 'device'
      ? isOwnSubscription(identity.topics, subscription.topic)
      : isCrewSubscriptionAllowed(identity.districts, subscription.topic))
    if (!allowed) {
      metrics.aclDenials.inc({ action: 'subscribe' })
      const suppressed = identity === undefined ? undefined : throttle.take(`subscribe_refused:${nameOf(identity)}`)
      if (suppressed !== undefined) identity?.log.warn({ topic: subscription.topic, reason: 'not_own_topic', suppressedSinceLast: suppressed }, 'subscription refused')
      callback(null, null) // SUBACK 0x80 for this filter; the connection stays up
      return
    }
    let held = subscriptions.get(client)
    if (held === undefined) {
      held = new Set()
      subscriptions.set(client, held)
    }
    if (!held.has(subscription.topic) && held.size >= limits.maxSubscriptions) {
      refuseSubscription(identity, subscription.topic, 'subscriptions', callback)
      return
    }
    held.add(subscription.topic)
    callback(null, subscription)
  }

  function refuseSubscription (identity: Identity | undefined, topic: string, limit: string, callback: (err: null, sub: null) => void): void {
    metrics.limitsExceeded.inc({ limit })
    const suppressed = identity === undefined ? undefined : throttle.take(`subscribe_limit:${nameOf(identity)}`)
    if (suppressed !== undefined) identity?.log.warn({ topic, reason: limit, max: limit === 'subscriptions' ? limits.maxSubscriptions : undefined, suppressedSinceLast: suppressed }, 'subscription refused')
    callback(null, null)
  }

  // Every message on its way to a client passes here, also what a persistent session queued: only
  // what the client may subscribe to now goes out (a session resumed under another account's
  // client id, or a crew whose districts changed, gets nothing else), and a client that does not
  // read what it was sent is cut before its buffer grows further.
  broker.authorizeForward = function authorizeForward (client, packet) {
    const identity = identities.get(client)
    if (identity === undefined) return null
    const mayReceive = identity.role === 'device'
      ? packet.topic === identity.topics.errors || packet.topic.startsWith(identity.topics.commandsPrefix)
      : isCrewSubscriptionAllowed(identity.districts, packet.topic)
    if (!mayReceive) return null
    if (options.outgoing !== undefined && !options.outgoing.admits(client.conn, wireBytes(packet))) return null
    return packet
  }

  broker.on('unsubscribe', function forgetSubscriptions (filters: string[], client: Client) {
    const held = subscriptions.get(client)
    for (const filter of filters) held?.delete(filter)
  })

  broker.on('clientError', function logClientError (client: Client, err: Error) {
    const identity = identities.get(client)
    const suppressed = throttle.take(`client_error:${identity === undefined ? connectionInfoOf(client.conn).remoteAddress : nameOf(identity)}`)
    if (suppressed === undefined) return
    ;(identity?.log ?? log).info({ clientId: client.id, err: { message: err.message, code: (err as { code?: string }).code }, suppressedSinceLast: suppressed }, 'client connection error')
  })
  broker.on('connectionError', function logConnectionError (client: Client, err: Error) {
    const ip = connectionInfoOf(client.conn).remoteAddress
    const isTimeout = err.message === 'connect did not arrive in time'
    if (isTimeout) metrics.limitsExceeded.inc({ limit: 'connect_timeout' })
    const suppressed = throttle.take(`connection_error:${ip}`)
    if (suppressed === undefined) return
    log.info({ ip, reason: isTimeout ? 'connect_timeout' : 'protocol_error', err: { message: err.message }, suppressedSinceLast: suppressed }, 'connection error before CONNECT')
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
        rates.forget(name)
        if (registry.getCrew(name) === undefined) crewSessions.forget(name)
      }
    },
  }
}

function nameOf (identity: Identity): string {
  return identity.role === 'device' ? identity.id : identity.name
}

/** A little more than a PUBLISH takes on the wire: fixed header, topic, packet id, payload. */
function wireBytes (packet: PublishPacket): number {
  return 16 + packet.topic.length * 3 + (typeof packet.payload === 'string' ? packet.payload.length * 3 : packet.payload.length)
}

function toBuffer (payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload
}
