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
import type { CrewIdentity, DeviceIdentity, Identity } from './authenticate.ts'
import { createConnectGuard } from './connect-guard.ts'
import { connectionInfoOf } from './connection-info.ts'
import { createLogThrottle, type LogThrottle } from './limits.ts'
import { createRateLimiter } from './rate-limit.ts'
import { isCrewSubscriptionAllowed, isOwnSubscription, parseAckTopic, topicLimitExceeded, type AlarmTopic } from './topics.ts'

export interface HookOptions {
  registry: Registry
  ingest: Ingest
  metrics: Metrics
  log: Logger
  /** A crew acknowledged an alarm (the alarm engine decides whether it may). */
  onAcknowledge?(crew: CrewIdentity, alarm: AlarmTopic, payload: Buffer): Promise<void>
  /** A device went over its publish rate (first time in a log period): record it and tell the device. */
  onRateLimited?(device: DeviceIdentity, payload: Buffer, droppedSinceLast: number): Promise<void>
  limits?: Partial<HookLimits>
  /** Shared with the listeners, so one offender is logged once per period. */
  throttle?: LogThrottle
}

/** Abuse limits applied in the hooks; defaults as in broker/config.ts. */
export interface HookLimits {
  keepaliveMaxSec: number
  maxTopicBytes: number
  maxTopicLevels: number
  maxSubscriptions: number
  publishRatePerSec: number
  publishBurst: number
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
  const { registry, ingest, metrics } = options
  const log = options.log.child({ module: 'mqtt' })
  const identities = new WeakMap<Client, Identity>()
  const clientsByName = new Map<string, Set<Client>>()
  const limits: HookLimits = { ...HOOK_LIMIT_DEFAULTS, ...options.limits }
  const throttle = options.throttle ?? createLogThrottle(limits.logIntervalMs)
  const keepalives = new WeakMap<Client, number>()
  const subscriptions = new WeakMap<Client, Set<string>>()
  const rates = createRateLimiter({ ratePerSec: limits.publishRatePerSec, burst: limits.publishBurst })
  const guard = createConnectGuard({
    registry,
    metrics,
    log,
    throttle,
    keepaliveMaxSec: limits.keepaliveMaxSec,
    login: {
      backoffAfter: limits.authBackoffAfter,
      lockoutAfter: limits.authLockoutAfter,
      windowMs: limits.authWindowMs,
      lockoutMs: limits.authLockoutMs,
      backoffMaxMs: limits.authBackoffMaxMs,
    },
  })

  // Telemetry and status are for the gateway alone: no client may subscribe to them (CONTRACT.md),
  // so Aedes' routing after the PUBACK (retained store, offline queues, emitter, 'publish' event)
  // would only cost: about 9 % of the gateway's CPU under load (`npm run bench`, profiled). A
  // packet the hooks consumed ends here; everything else is routed as usual.
  const consumed = new WeakSet<PublishPacket>()
  // aedes.js calls publish(packet, client, done) internally; its types only know (packet, done).
  const route = broker.publish.bind(broker) as unknown as (packet: PublishPacket, client: Client | null, done?: (err?: Error) => void) => void
  Object.assign(broker, {
    publish: function publishUnlessConsumed (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) {
      if (typeof client === 'function') {
        route(packet, null, client)
        return
      }
      if (consumed.delete(packet)) {
        done?.()
        return
      }
      route(packet, client, done)
    },
  })

  broker.preConnect = function preConnect (client, packet, callback) {
    keepalives.set(client, packet.keepalive ?? 0)
    callback(null, true)
  }

  broker.authenticate = function authenticate (client, username, password, callback) {
    const info = connectionInfoOf(client.conn)
    const decision = guard.decide({
      clientId: client.id,
      username: username ?? undefined,
      password: password ?? undefined,
      keepaliveSec: keepalives.get(client),
      ip: info.remoteAddress,
      clientCertCn: info.clientCertCn,
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
    if (identity === undefined) {
      callback(new Error('not authenticated'))
      return
    }
    const topicLimit = topicLimitExceeded(packet.topic, limits.maxTopicBytes, limits.maxTopicLevels)
    if (topicLimit !== undefined) {
      metrics.limitsExceeded.inc({ limit: topicLimit })
      denyPublish(identity, packet.topic.slice(0, limits.maxTopicBytes), callback, topicLimit)
      return
    }
    const isOwnPublish = identity.role === 'device'
      ? packet.topic === identity.topics.telemetry || packet.topic === identity.topics.status
      : parseAckTopic(packet.topic) !== undefined
    if (isOwnPublish && !rates.take(nameOf(identity))) {
      if (identity.role === 'device') consumed.add(packet)
      dropOverRate(identity, toBuffer(packet.payload), callback)
      return
    }
    if (identity.role === 'device') {
      if (packet.topic === identity.topics.telemetry) {
        ingest.handleTelemetry(identity, toBuffer(packet.payload)).then(
          function telemetryDurable () {
            consumed.add(packet)
            callback(null)
          },
          function telemetryFailed (err: unknown) {
            const isFull = isGatewayError(err, 'CSG_SPOOL_FULL')
            if (isFull) metrics.spoolFullRefusals.inc()
            const suppressed = throttle.take(`not_stored:${identity.id}`)
            if (suppressed !== undefined) {
              identity.log.error({ err, reason: isFull ? 'spool_full' : 'not_stored', suppressedSinceLast: suppressed }, 'telemetry not stored; closing the connection so the device retries')
            }
            callback(err instanceof Error ? err : new Error(String(err)))
          },
        )
        return
      }
      if (packet.topic === identity.topics.status) {
        consumed.add(packet)
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

  function denyPublish (identity: Identity, topic: string, callback: (err: Error) => void, reason = 'not_own_topic'): void {
    metrics.aclDenials.inc({ action: 'publish' })
    const suppressed = throttle.take(`publish_refused:${nameOf(identity)}`)
    if (suppressed !== undefined) identity.log.warn({ topic, reason, suppressedSinceLast: suppressed }, 'publish refused; closing the connection')
    callback(new GatewayError('CSG_TOPIC_FORBIDDEN', `${identity.role} may not publish to ${topic}`))
  }

  // QoS 1 semantics: the excess message is acknowledged and dropped, so the device does not send it
  // again forever; the first drop of each log period is recorded durably (a `rejected` point) before
  // its PUBACK, and the device is told on its errors topic.
  function dropOverRate (identity: Identity, payload: Buffer, callback: (err: Error | null) => void): void {
    metrics.limitsExceeded.inc({ limit: 'publish_rate' })
    const suppressed = throttle.take(`publish_rate:${nameOf(identity)}`)
    if (suppressed === undefined) {
      callback(null)
      return
    }
    identity.log.warn({ reason: 'publish_rate', ratePerSec: limits.publishRatePerSec, burst: limits.publishBurst, droppedSinceLast: suppressed }, 'publish rate exceeded: dropping messages above it')
    if (identity.role !== 'device' || options.onRateLimited === undefined) {
      callback(null)
      return
    }
    options.onRateLimited(identity, payload, suppressed).then(
      function rateLimitRecorded () { callback(null) },
      function rateLimitNotRecorded (err: unknown) {
        identity.log.warn({ err }, 'could not record the rate-limited message')
        callback(null)
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
      identity?.log.warn({ topic: subscription.topic, reason: 'not_own_topic' }, 'subscription refused')
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
      }
    },
  }
}

function nameOf (identity: Identity): string {
  return identity.role === 'device' ? identity.id : identity.name
}

function toBuffer (payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload
}
