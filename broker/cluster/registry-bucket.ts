// The registry's KV bucket, created with the same settings by every gateway node and by the CLI
// (ensureBucket refuses to start against a bucket made with other replicas or history).
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { FollowedBucket } from './bucket-follower.ts'
import { ensureBucket } from './jetstream-setup.ts'
import { REGISTRY_BUCKET } from './names.ts'

/** Values kept per key: the current one. Earlier secrets' hashes are of no use to anyone. */
const REGISTRY_HISTORY = 1

/** An opened registry bucket, with what following it needs. */
export type RegistryBucket = FollowedBucket

/** Creates or checks the registry bucket and opens it; `replicas` from replicasFor(nc, NATS_REPLICAS). */
export async function openRegistryBucket (nc: NatsConnection, replicas: number, name: string = REGISTRY_BUCKET): Promise<RegistryBucket> {
  const jsm = await jetstreamManager(nc)
  const kv = await ensureBucket(nc, jsm, name, {
    replicas,
    history: REGISTRY_HISTORY,
    description: 'city-sensor-gateway registry: devices, crews and operators (hashed secrets)',
  })
  return { kv, jsm, name }
}
