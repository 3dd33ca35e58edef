// The compare-and-set the cluster's alarms and leases rely on (broker/cluster/kv-cas.ts), against
// a real 3-node nats-server cluster: of two writers at the same revision at the same moment,
// through different servers, exactly one is accepted — every time — and a read right after sees
// it. The KV client's update() alone does not hold this on a clustered bucket (the server checks
// the revision before replicating, not in order with writes in flight); the message id does.
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBucket } from '../../broker/cluster/jetstream-setup.ts'
import { openKvKeys, type KvKeys } from '../../broker/cluster/kv-cas.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'

const BUCKET = 'cas-test'
const RACES = 200

let cluster: NatsCluster | undefined
const connections: NatsConnection[] = []
beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  // One connection per server: the two writes of a race enter the cluster at different servers.
  for (const url of cluster.urls.slice(0, 2)) connections.push(await connect({ servers: [url] }))
})
afterAll(async () => {
  for (const nc of connections) await nc.close()
  await cluster?.close()
})

describe('KV compare-and-set on a clustered bucket', () => {
  it('accepts exactly one of two writes at the same revision, in every race', async () => {
    const [first, second] = connections as [NatsConnection, NatsConnection]
    const kv = await ensureBucket(first, await jetstreamManager(first), BUCKET, { replicas: 3, history: 1 })
    const writers: [KvKeys, KvKeys] = [
      openKvKeys(jetstream(first), await jetstreamManager(first), BUCKET),
      openKvKeys(jetstream(second), await jetstreamManager(second), BUCKET),
    ]
    let bothAccepted = 0
    let noneAccepted = 0
    for (let race = 0; race < RACES; race++) {
      const key = `k${race}`
      const base = race % 2 === 0 ? 0 : await kv.create(key, 'base') // a create race and an update race
      const revisions = await Promise.all(writers.map((keys, i) => keys.compareAndSet(key, `writer ${i}`, base)))
      const accepted = revisions.filter((r) => r !== undefined)
      if (accepted.length === 2) bothAccepted++
      if (accepted.length === 0) noneAccepted++
      if (accepted.length === 1) {
        const latest = await writers[race % 2]!.readLatest(key)
        expect(latest?.revision).toBe(accepted[0])
        expect(Buffer.from(latest?.value ?? []).toString()).toBe(`writer ${revisions.indexOf(accepted[0])}`)
      }
    }
    expect({ bothAccepted, noneAccepted }).toEqual({ bothAccepted: 0, noneAccepted: 0 })
  })

  it('tells a write at a stale revision, and the same write sent again, from an accepted one', async () => {
    const [nc] = connections as [NatsConnection]
    const keys = openKvKeys(jetstream(nc), await jetstreamManager(nc), BUCKET)
    expect(await keys.readLatest('again')).toBeUndefined()
    const revision = await keys.compareAndSet('again', 'one', 0)
    expect(revision).toBeGreaterThan(0)
    expect(await keys.compareAndSet('again', 'one', 0)).toBeUndefined() // a retry: a duplicate, read the key to tell
    expect(await keys.compareAndSet('again', 'two', 0)).toBeUndefined()
    const next = await keys.compareAndSet('again', 'two', revision!)
    expect(next).toBeGreaterThan(revision!)
    expect(await keys.readLatest('again')).toMatchObject({ revision: next })
  })
})
