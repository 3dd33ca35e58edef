// The only folder that speaks Aedes' callback API, one module per hook as Aedes splits its packet
// handlers: authenticate (CONNECT), authorize-publish (PUBLISH), authorize-subscribe (SUBSCRIBE),
// authorize-forward (every delivery). Each adapts Aedes' callbacks to the gateway's promise-based
// stages once. This module composes them and handles the connection-level events.
import type { Aedes, Client } from 'aedes'
import type { Metrics } from '../../http/metrics.ts'
import type { Ingest } from '../../ingest/ingest.ts'
import type { Logger } from '../../log.ts'
import type { LogThrottle } from '../../log-throttle.ts'
import type { Registry } from '../../registry/registry.ts'
import type { CrewIdentity, DeviceIdentity, Identity } from '../authenticate.ts'
import { connectionInfoOf } from '../connection-info.ts'
import { createConnectGuard } from '../guards/connect-guard.ts'
import type { CrewSessions } from '../guards/crew-sessions.ts'
import type { LoginGuardOptions } from '../guards/login-guard.ts'
import type { OutgoingGuard } from '../guards/outgoing-buffer.ts'
import type { Qos2Duplicates } from '../guards/qos2-duplicates.ts'
import type { AlarmTopic } from '../topics.ts'
import { installAuthenticate } from './authenticate.ts'
import { installAuthorizeForward, type StaTopicAccess } from './authorize-forward.ts'
import { installAuthorizePublish, type PublishLimits } from './authorize-publish.ts'
import { installAuthorizeSubscribe, type SubscribeLimits } from './authorize-subscribe.ts'
import { createClientTable, nameOf } from './client-table.ts'

export { MAX_ACK_PAYLOAD_BYTES } from './authorize-publish.ts'

/** The limits the hooks apply; mapped from the configuration in guards/index.ts. */
export interface HookLimits {
  /** Largest keepalive a client may ask for, s. */
  keepaliveMaxSec: number
  login: LoginGuardOptions
  publish: PublishLimits
  subscribe: SubscribeLimits
}

export interface HookOptions {
  registry: Registry
  ingest: Ingest
  metrics: Metrics
  log: Logger
  limits: HookLimits
  /** Shared with the listeners, so one offender is logged once per period. */
  throttle: LogThrottle
  qos2: Qos2Duplicates
  crewSessions: CrewSessions
  /** Cuts clients that do not read what is sent to them. */
  outgoing?: OutgoingGuard | undefined
  /** A crew acknowledged an alarm (the alarm stage decides whether it may). */
  onAcknowledge?(crew: CrewIdentity, alarm: AlarmTopic, payload: Buffer): Promise<void>
  /** A crew acknowledged an incident (the alarm stage decides whether it may). */
  onIncidentAck?(crew: CrewIdentity, target: { district: string; incidentId: string }, payload: Buffer): Promise<void>
  /** A device's publish was refused over its rate (first time in a log period): record it and tell the device. */
  onRateLimited?(device: DeviceIdentity, payload: Buffer, refusedSinceLast: number): Promise<void>
  /** The SensorThings MQTT extension: which crews may subscribe to and receive its topics. */
  sta?: StaTopicAccess | undefined
}

export interface BrokerHooks {
  identityOf(client: Client): Identity | undefined
  /** Closes the sessions of these device ids / crew names (removed from the registry). */
  disconnect(names: readonly string[]): void
}

export function installHooks (broker: Aedes, options: HookOptions): BrokerHooks {
  const { registry, ingest, metrics, throttle, limits, crewSessions } = options
  const log = options.log.child({ module: 'mqtt' })
  const clients = createClientTable()
  const guard = createConnectGuard({ registry, metrics, log, throttle, crewSessions, keepaliveMaxSec: limits.keepaliveMaxSec, login: limits.login })

  installAuthenticate(broker, guard, clients)
  const publish = installAuthorizePublish(broker, {
    clients,
    ingest,
    qos2: options.qos2,
    metrics,
    throttle,
    limits: limits.publish,
    onAcknowledge: options.onAcknowledge?.bind(options),
    onIncidentAck: options.onIncidentAck?.bind(options),
    onRateLimited: options.onRateLimited?.bind(options),
  })
  installAuthorizeSubscribe(broker, { clients, metrics, throttle, limits: limits.subscribe, sta: options.sta })
  installAuthorizeForward(broker, clients, options.outgoing, options.sta)

  broker.on('clientDisconnect', function forgetClient (client: Client) { clients.forget(client) })
  broker.on('clientError', function logClientError (client: Client, err: Error) {
    const identity = clients.identityOf(client)
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
    identityOf (client) { return clients.identityOf(client) },
    disconnect (names) {
      for (const name of names) {
        for (const client of clients.connectionsOf(name)) {
          log.info({ name }, 'removed from the registry; closing its connection')
          client.close()
        }
        ingest.forgetDevice(name)
        publish.forget(name)
        if (registry.getCrew(name) === undefined) crewSessions.forget(name)
      }
    },
  }
}
