// The NGSI-LD send guard on a real nats-server: claims merge per attribute by observedAt (an older
// value never replaces a newer one already claimed), concurrent claims all land, and changedSince()
// names exactly the entities another claim changed after a node's own.
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openNgsiNewest } from '../../../broker/cluster/ngsi-newest.ts'
import type { PendingEntity } from '../../../broker/ngsi/pending.ts'
import type { SendGuard } from '../../../broker/ngsi/send-guard.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'

let nats: NatsCluster | undefined
let nc: NatsConnection | undefined
let guard: SendGuard

beforeAll(async () => {
  nats = await startNatsCluster({ nodes: 1 })
  nc = await connect({ servers: [...nats.urls] })
  guard = await openNgsiNewest({ nc, jsm: await jetstreamManager(nc), replicas: 1 }, 30 * 24 * 3600_000)
}, 60_000)
afterAll(async () => {
  await nc?.close()
  await nats?.close()
}, 30_000)

function entity (id: string, attributes: Record<string, [number, number]>): PendingEntity {
  return {
    id,
    type: 'Device',
    attributes: Object.fromEntries(Object.entries(attributes).map(([name, [value, atMs]]) => [name, { type: 'Property', value, observedAt: new Date(atMs).toISOString() }])),
  }
}
function values (e: PendingEntity | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(e?.attributes ?? {}).map(([name, a]) => [name, 'value' in a ? a.value : undefined]))
}

it('claims the newest value of each attribute across claims, never an older one', async () => {
  const id = 'urn:ngsi-ld:Device:mh-1'
  const [first] = await guard.claim([entity(id, { coverAngle: [5, 5000], o2: [20, 5000] })])
  expect(values(first?.entity)).toEqual({ coverAngle: 5, o2: 20 })
  // Another node owes an older coverAngle and a newer h2s: it sends the newer coverAngle, o2 and its h2s.
  const [second] = await guard.claim([entity(id, { coverAngle: [3, 3000], h2s: [1, 6000] })])
  expect(values(second?.entity)).toEqual({ coverAngle: 5, o2: 20, h2s: 1 })
  expect(second!.revision).toBeGreaterThan(first!.revision)
  // The first claim is stale now; the second is current.
  expect((await guard.changedSince([first!])).map(values)).toEqual([{ coverAngle: 5, o2: 20, h2s: 1 }])
  expect(await guard.changedSince([second!])).toEqual([])
  // Nothing newer: the claim changes nothing and keeps the revision.
  const [third] = await guard.claim([entity(id, { coverAngle: [4, 4000] })])
  expect(third!.revision).toBe(second!.revision)
  expect(values(third?.entity)).toEqual({ coverAngle: 5, o2: 20, h2s: 1 })
})

it('lets concurrent claims of one entity all land, ending with the newest of each', async () => {
  const id = 'urn:ngsi-ld:Device:mh-2'
  const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => guard.claim([entity(id, { coverAngle: [i, 1000 + i] })])))
  const newest = claims.flat().reduce((a, b) => (b.revision > a.revision ? b : a))
  expect(values(newest.entity)).toEqual({ coverAngle: 11 })
  expect(await guard.changedSince([newest])).toEqual([])
})
