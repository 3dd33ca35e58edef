// An MQTT connection's identity (set at CONNECT) in; the ConsumerScope of what it may read on
// SensorThings topics out: a consumer its own scope, a crew its districts with exact locations.
// Devices read no scoped data and are never asked for.
import { scopeOfAccount } from '../consumers/account-scope.ts'
import type { ConsumerScope } from '../consumers/scope.ts'
import type { ConsumerIdentity, CrewIdentity } from './authenticate.ts'

export function scopeOfClient (identity: CrewIdentity | ConsumerIdentity): ConsumerScope {
  if (identity.role === 'consumer') return identity.scope
  return scopeOfAccount('crew', identity.districts) ?? { location: 'exact' }
}
