// An MQTT connection's identity (set at CONNECT) in; the ConsumerScope what it receives is
// filtered through out. The one place that decides who sees what over MQTT: devices see no scoped
// data at all (undefined is never asked for them), crews their districts with exact locations.
import { scopeOfAccount } from '../consumers/account-scope.ts'
import type { ConsumerScope } from '../consumers/scope.ts'
import type { CrewIdentity } from './authenticate.ts'

export function scopeOfClient (identity: CrewIdentity): ConsumerScope | undefined {
  return scopeOfAccount('crew', identity.districts)
}
