// SUBSCRIBE → Aedes' authorizeSubscribe hook, per filter: a device only to its own errors and
// commands, a crew only to its districts' alarms and incidents and its own escalations, a consumer
// only to SensorThings topics within its scope; at most `maxSubscriptions` filters held per
// connection. A refused filter gets SUBACK 0x80 and the connection stays up.
import type { Aedes, Client, Subscription } from 'aedes'
import type { Metrics } from '../../http/metrics.ts'
import type { LogThrottle } from '../../log-throttle.ts'
import type { Identity } from '../authenticate.ts'
import { scopeOfClient } from '../client-scope.ts'
import { isCrewIncidentSubscriptionAllowed, isCrewSubscriptionAllowed, isOwnEscalationFilter, isOwnSubscription, topicLimitExceeded } from '../topics.ts'
import type { StaTopicAccess } from './authorize-forward.ts'
import { nameOf, type ClientTable } from './client-table.ts'

export interface SubscribeLimits {
  maxTopicBytes: number
  maxTopicLevels: number
  /** Filters one connection may hold. */
  maxSubscriptions: number
}

export function installAuthorizeSubscribe (broker: Aedes, options: { clients: ClientTable; metrics: Metrics; throttle: LogThrottle; limits: SubscribeLimits; sta?: StaTopicAccess | undefined }): void {
  const { clients, metrics, throttle, limits } = options
  const subscriptions = new WeakMap<Client, Set<string>>()

  broker.authorizeSubscribe = function authorizeSubscribe (client, subscription: Subscription, callback) {
    const identity = clients.identityOf(client)
    const topicLimit = topicLimitExceeded(subscription.topic, limits.maxTopicBytes, limits.maxTopicLevels)
    if (topicLimit !== undefined) {
      refuseSubscription(identity, subscription.topic.slice(0, limits.maxTopicBytes), topicLimit, callback)
      return
    }
    const allowed = identity !== undefined && (identity.role === 'device'
      ? isOwnSubscription(identity.topics, subscription.topic)
      : identity.role === 'consumer'
        ? options.sta?.maySubscribe(scopeOfClient(identity), subscription.topic) === true
        : isCrewSubscriptionAllowed(identity.districts, subscription.topic) || isCrewIncidentSubscriptionAllowed(identity.districts, subscription.topic) || isOwnEscalationFilter(identity.name, subscription.topic) ||
          options.sta?.maySubscribe(scopeOfClient(identity), subscription.topic) === true)
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

  broker.on('unsubscribe', function forgetSubscriptions (filters: string[], client: Client) {
    const held = subscriptions.get(client)
    for (const filter of filters) held?.delete(filter)
  })
}
