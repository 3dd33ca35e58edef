// PUBLISH → Aedes' authorizePublish hook. A client may publish only to its own topics (a device:
// telemetry and status; a crew: acknowledgements in its districts); anything else closes the
// connection. What it may publish is for the gateway alone: consumed here, never routed to other
// clients nor retained. Telemetry is ingested inside this hook because Aedes 1.x writes the QoS 1
// PUBACK right after its callback (lib/handlers/publish.js): the callback is the "stored" promise.
// Above its rate a client is paced (the callback waits), beyond the longest delay refused.
import type { Aedes, Client, PublishPacket } from 'aedes'
import { GatewayError, isGatewayError } from '../../errors.ts'
import type { Metrics } from '../../http/metrics.ts'
import type { Ingest } from '../../ingest/ingest.ts'
import type { LogThrottle } from '../../log-throttle.ts'
import { skipRoutingOf } from '../aedes-internals.ts'
import type { CrewIdentity, DeviceIdentity, Identity } from '../authenticate.ts'
import { createRateLimiter } from '../guards/publish-rate.ts'
import type { Qos2Duplicates } from '../guards/qos2-duplicates.ts'
import { isCrewIncidentSubscriptionAllowed, isCrewSubscriptionAllowed, parseAckTopic, parseIncidentAckTopic, topicLimitExceeded, type AlarmTopic } from '../topics.ts'
import { nameOf, type ClientTable } from './client-table.ts'

/**
 * Largest acknowledgement payload: `{"note": …}` with a note of at most 500 characters, each
 * escaped to at most six bytes. Larger ones are ignored, never parsed.
 */
export const MAX_ACK_PAYLOAD_BYTES = 4096

export interface PublishLimits {
  maxTopicBytes: number
  maxTopicLevels: number
  /** Sustained publishes per second per device or crew. */
  ratePerSec: number
  /** Publishes allowed in one burst. */
  burst: number
  /** Longest a publish above the rate is held before its PUBACK; further ahead it is refused. */
  maxDelayMs: number
}

export interface PublishOptions {
  clients: ClientTable
  ingest: Ingest
  qos2: Qos2Duplicates
  metrics: Metrics
  throttle: LogThrottle
  limits: PublishLimits
  /** A crew acknowledged an alarm (the alarm stage decides whether it may). */
  onAcknowledge?: ((crew: CrewIdentity, alarm: AlarmTopic, payload: Buffer) => Promise<void>) | undefined
  /** A crew acknowledged an incident (the alarm stage decides whether it may). */
  onIncidentAck?: ((crew: CrewIdentity, target: { district: string; incidentId: string }, payload: Buffer) => Promise<void>) | undefined
  /** A device's publish was refused over its rate (first time in a log period): record it and tell the device. */
  onRateLimited?: ((device: DeviceIdentity, payload: Buffer, refusedSinceLast: number) => Promise<void>) | undefined
}

export interface PublishHook {
  /** Forgets the rate bucket of a name removed from the registry. */
  forget(name: string): void
}

type Callback = (err: Error | null) => void

export function installAuthorizePublish (broker: Aedes, options: PublishOptions): PublishHook {
  const { clients, ingest, qos2, metrics, throttle, limits } = options
  const rates = createRateLimiter({ ratePerSec: limits.ratePerSec, burst: limits.burst, maxDelayMs: limits.maxDelayMs })
  skipRoutingOf(broker, isConsumed)

  broker.authorizePublish = function authorizePublish (client, packet: PublishPacket, callback) {
    const identity = clients.identityOf(client)
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
    if (!isOwnPublish(identity, packet.topic)) {
      denyPublish(identity, packet.topic, callback)
      return
    }
    markConsumed(packet)
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

  function isOwnPublish (identity: Identity, topic: string): boolean {
    // Consumers only read.
    if (identity.role === 'consumer') return false
    if (identity.role === 'device') return topic === identity.topics.telemetry || topic === identity.topics.status
    const ack = parseAckTopic(topic)
    if (ack === undefined) {
      const incidentAck = parseIncidentAckTopic(topic)
      return incidentAck !== undefined && options.onIncidentAck !== undefined && isCrewIncidentSubscriptionAllowed(identity.districts, `incidents/${incidentAck.district}/#`)
    }
    return options.onAcknowledge !== undefined && isCrewSubscriptionAllowed(identity.districts, `alarms/${ack.district}/#`)
  }

  /** Within the client's rate: consume now; above it: later (the PUBACK waits), or refuse. */
  function pace (client: Client, identity: Identity, packet: PublishPacket, callback: Callback): void {
    const delayMs = rates.reserve(nameOf(identity))
    if (delayMs === 0) {
      consume(identity, packet, callback)
      return
    }
    if (delayMs === undefined) {
      refuseOverRate(identity, toBuffer(packet.payload), callback)
      return
    }
    metrics.limitsExceeded.inc({ limit: 'publish_rate' })
    const suppressed = throttle.take(`publish_rate:${nameOf(identity)}`)
    if (suppressed !== undefined) {
      identity.log.warn({ reason: 'publish_rate', ratePerSec: limits.ratePerSec, burst: limits.burst, delayMs, delayedSinceLast: suppressed }, 'publish rate exceeded: acknowledging later')
    }
    setTimeout(function paced () {
      // Gone meanwhile: it never got its PUBACK and sends the message again.
      if (client.closed) callback(new Error('connection closed'))
      else consume(identity, packet, callback)
    }, delayMs)
  }

  /** A publish to the client's own topics, ingested or applied before its PUBACK. */
  function consume (identity: Identity, packet: PublishPacket, callback: Callback): void {
    if (identity.role === 'device') {
      if (packet.topic === identity.topics.telemetry) ingestTelemetry(identity, packet, callback)
      else callback(null) // status: nothing is kept of it yet
      return
    }
    if (identity.role === 'consumer') {
      callback(new GatewayError('CSG_TOPIC_FORBIDDEN', 'consumers may not publish'))
      return
    }
    acknowledge(identity, packet, callback)
  }

  function ingestTelemetry (device: DeviceIdentity, packet: PublishPacket, callback: Callback): void {
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

  function acknowledge (crew: CrewIdentity, packet: PublishPacket, callback: Callback): void {
    const alarm = parseAckTopic(packet.topic)
    const payload = toBuffer(packet.payload)
    if (payload.length > MAX_ACK_PAYLOAD_BYTES) {
      metrics.limitsExceeded.inc({ limit: 'ack_size' })
      const suppressed = throttle.take(`ack_size:${crew.name}`)
      if (suppressed !== undefined) crew.log.warn({ topic: packet.topic, reason: 'ack_too_large', bytes: payload.length, maxBytes: MAX_ACK_PAYLOAD_BYTES, suppressedSinceLast: suppressed }, 'acknowledgement ignored')
      callback(null)
      return
    }
    const incidentAck = alarm === undefined ? parseIncidentAckTopic(packet.topic) : undefined
    const applied = alarm !== undefined
      ? options.onAcknowledge?.(crew, alarm, payload)
      : incidentAck === undefined ? undefined : options.onIncidentAck?.(crew, incidentAck, payload)
    ;(applied ?? Promise.resolve()).then(
      function acknowledged () { callback(null) },
      function acknowledgeFailed (err: unknown) {
        crew.log.error({ err, topic: packet.topic }, 'acknowledgement failed')
        callback(err instanceof Error ? err : new Error(String(err)))
      },
    )
  }

  function denyPublish (identity: Identity, topic: string, callback: Callback, reason = 'not_own_topic'): void {
    metrics.aclDenials.inc({ action: 'publish' })
    const suppressed = throttle.take(`publish_refused:${nameOf(identity)}`)
    if (suppressed !== undefined) identity.log.warn({ topic, reason, suppressedSinceLast: suppressed }, 'publish refused; closing the connection')
    callback(new GatewayError('CSG_TOPIC_FORBIDDEN', `${identity.role} may not publish to ${topic}`))
  }

  function refuseProtocol (identity: Identity, reason: string, callback: Callback): void {
    metrics.protocolErrors.inc({ reason })
    const suppressed = throttle.take(`protocol:${nameOf(identity)}`)
    if (suppressed !== undefined) identity.log.warn({ reason, suppressedSinceLast: suppressed }, 'protocol violation; closing the connection')
    callback(new GatewayError('CSG_PROTOCOL_VIOLATION', reason))
  }

  // A client further ahead of its rate than the longest delay gets no PUBACK and loses its
  // connection: it keeps the message and sends it again after reconnecting, so nothing it was told
  // is stored gets lost. The first refusal of each log period is recorded durably (a `rejected`
  // point) and the device told on its errors topic.
  function refuseOverRate (identity: Identity, payload: Buffer, callback: Callback): void {
    metrics.limitsExceeded.inc({ limit: 'publish_rate_refused' })
    const refusal = new GatewayError('CSG_PUBLISH_RATE', `${identity.role} publishes above ${limits.ratePerSec}/s beyond the longest delay of ${limits.maxDelayMs} ms`)
    const suppressed = throttle.take(`publish_rate_refused:${nameOf(identity)}`)
    if (suppressed === undefined) {
      callback(refusal)
      return
    }
    identity.log.warn({ reason: 'publish_rate', ratePerSec: limits.ratePerSec, burst: limits.burst, maxDelayMs: limits.maxDelayMs, refusedSinceLast: suppressed }, 'publish rate exceeded beyond the longest delay: closing the connection without acknowledging')
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

  return {
    forget (name) { rates.forget(name) },
  }
}

// A mark on the packet itself rather than a WeakSet of packets: a WeakSet entry per publish cost
// about 2 % of the gateway's CPU under load, and every young-generation GC had to walk the set.
const CONSUMED = Symbol('consumed by the gateway')
type MarkedPacket = PublishPacket & { [CONSUMED]?: true }

function markConsumed (packet: PublishPacket): void {
  (packet as MarkedPacket)[CONSUMED] = true
}

function isConsumed (packet: PublishPacket): boolean {
  return (packet as MarkedPacket)[CONSUMED] === true
}

function toBuffer (payload: string | Buffer): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload) : payload
}
