// The running gateway's registry in cluster mode on a real 3-node nats-server cluster: two
// openKvRegistry instances on their own connections (two gateway nodes) and a third connection
// provisioning (the CLI). Both nodes load the bucket, apply each change within 1 s, and report a
// removed device or a changed secret to their onRevoked listeners.
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { openRegistryBucket, type RegistryBucket } from '../../../broker/cluster/registry-bucket.ts'
import { openKvRegistry } from '../../../broker/cluster/registry-kv.ts'
import { kvRegistryStore } from '../../../broker/cluster/registry-kv-store.ts'
import { createLogger } from '../../../broker/log.ts'
import { isGatewayError } from '../../../broker/errors.ts'
import { addCrew, addDevice, addOperator, removeDevice } from '../../../broker/registry/provision.ts'
import type { Registry } from '../../../broker/registry/registry.ts'
import type { RegistryStore } from '../../../broker/registry/registry-store.ts'
import { hashSecret } from '../../../broker/registry/secrets.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'
import { eventually } from '../../helpers/wait.ts'

const APPLY_WITHIN_MS = 1000
const logLines: Record<string, unknown>[] = []
const log = createLogger('info', { write (line: string) { logLines.push(JSON.parse(line) as Record<string, unknown>) } })

let cluster: NatsCluster | undefined
const connections: NatsConnection[] = []
let cliConnection: NatsConnection
let nodeConnections: NatsConnection[]
let bucketCount = 0
let bucketName: string
let store: RegistryStore
const openRegistries: Registry[] = []

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  // Each on its own server; the cluster tells each client the others' addresses for reconnecting.
  for (const url of cluster.urls) connections.push(await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 }))
  const [a, b, cli] = connections as [NatsConnection, NatsConnection, NatsConnection]
  nodeConnections = [a, b]
  cliConnection = cli
})
afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()))
  await cluster?.close()
})
beforeEach(async () => {
  bucketName = `reg-live-${++bucketCount}`
  store = kvRegistryStore(await openRegistryBucket(cliConnection, 3, bucketName), log)
  logLines.length = 0
})
afterEach(() => {
  for (const registry of openRegistries.splice(0)) registry.close()
})

async function openNode (nc: NatsConnection): Promise<Registry> {
  const bucket: RegistryBucket = await openRegistryBucket(nc, 3, bucketName)
  const registry = await openKvRegistry({ bucket, log })
  openRegistries.push(registry)
  return registry
}

async function openTwoNodes (): Promise<[Registry, Registry]> {
  return [await openNode(nodeConnections[0]!), await openNode(nodeConnections[1]!)]
}

/** Milliseconds until `isDone` holds on every node (polled every 5 ms), failing after APPLY_WITHIN_MS. */
async function appliedOnAll (nodes: Registry[], isDone: (registry: Registry) => boolean, what: string): Promise<number> {
  const started = performance.now()
  await eventually(() => nodes.every(isDone), (done) => done, { timeoutMs: APPLY_WITHIN_MS, intervalMs: 5, what })
  return performance.now() - started
}

function recordRevocations (registry: Registry): string[] {
  const revoked: string[] = []
  registry.onRevoked((names) => { revoked.push(...names) })
  return revoked
}

describe('KV registry on two nodes', () => {
  it('loads the entries present at start, then applies every change on both nodes within 1 s', async () => {
    await addDevice(store, { id: 'early', kind: 'manhole', district: 'n' })
    await addCrew(store, 'crew-a', ['n'])
    await addOperator(store, 'op-1')
    const nodes = await openTwoNodes()
    for (const node of nodes) {
      expect(node.getDevice('early')?.district).toBe('n')
      expect(node.getCrew('crew-a')?.districts).toEqual(['n'])
      expect(node.getOperator('op-1')).toBeDefined()
      expect(node.size()).toEqual({ devices: 1, crews: 1 })
    }

    const latencies: number[] = []
    for (let i = 0; i < 10; i++) {
      await addDevice(store, { id: `late.${i}`, kind: 'lamp-post', district: 's' })
      latencies.push(await appliedOnAll(nodes, (r) => r.getDevice(`late.${i}`) !== undefined, `late.${i} on both nodes`))
    }
    console.log(`KV registry: a new device seen on both nodes after ${latencies.map((ms) => ms.toFixed(0)).join(', ')} ms`)
    for (const node of nodes) {
      expect([...node.listDevices()].map(([id]) => id)).toEqual(['early', ...Array.from({ length: 10 }, (_, i) => `late.${i}`)])
    }
  })

  it('reports a removed device and a changed secret on both nodes, and keeps sessions on other changes', async () => {
    await addDevice(store, { id: 'gone', kind: 'manhole', district: 'n' })
    await addDevice(store, { id: 'rekeyed', kind: 'manhole', district: 'n' })
    await addDevice(store, { id: 'moved', kind: 'manhole', district: 'n' })
    await addCrew(store, 'crew-x')
    const nodes = await openTwoNodes()
    const revoked = nodes.map(recordRevocations)

    await removeDevice(store, 'gone')
    await appliedOnAll(nodes, (r) => r.getDevice('gone') === undefined, 'removal on both nodes')
    expect(revoked).toEqual([['gone'], ['gone']])

    const newHash = hashSecret('new secret')
    await store.update((data) => { data.devices.rekeyed!.secretHash = newHash })
    await appliedOnAll(nodes, (r) => r.getDevice('rekeyed')?.secretHash === newHash, 'new secret on both nodes')
    expect(revoked).toEqual([['gone', 'rekeyed'], ['gone', 'rekeyed']])

    await store.update((data) => { data.devices.moved!.district = 's' })
    await appliedOnAll(nodes, (r) => r.getDevice('moved')?.district === 's', 'new district on both nodes')
    await store.update((data) => { delete data.crews['crew-x'] })
    await appliedOnAll(nodes, (r) => r.getCrew('crew-x') === undefined, 'crew removal on both nodes')
    expect(revoked).toEqual([['gone', 'rekeyed', 'crew-x'], ['gone', 'rekeyed', 'crew-x']])
    expect(logLines.filter((l) => l.msg === 'registry entry revoked')).toHaveLength(6)
  })

  it('reload() returns once the node has applied every change made before it', async () => {
    const node = await openNode(nodeConnections[0]!)
    for (let i = 0; i < 20; i++) {
      await addDevice(store, { id: `r-${i}`, kind: 'manhole', district: 'n' })
      await node.reload()
      expect(node.getDevice(`r-${i}`), `r-${i}`).toBeDefined()
    }
  })

  it('counts an entry overwritten with an invalid value as removed, on both nodes', async () => {
    await addDevice(store, { id: 'spoiled', kind: 'manhole', district: 'n' })
    const nodes = await openTwoNodes()
    const revoked = nodes.map(recordRevocations)
    const bucket = await openRegistryBucket(cliConnection, 3, bucketName)
    await bucket.kv.put('device.spoiled', '{"kind":"toaster"}')
    await appliedOnAll(nodes, (r) => r.getDevice('spoiled') === undefined, 'invalid entry treated as absent')
    expect(revoked).toEqual([['spoiled'], ['spoiled']])
    expect(logLines.filter((l) => l.msg === 'registry bucket: invalid entry, treated as absent' && l.key === 'device.spoiled')).toHaveLength(2)
  })
})

describe('KV registry while a NATS server is down', () => {
  // The server stopped is the one hosting a node's watch consumer: the node depends on its stall
  // check and on reading the missed revisions from the stream (about 2 s measured; bounded here at
  // 10 s). Its own connection may be to that server too, and moves.
  it('a node whose watch ran on the lost server gets the changes made meanwhile', async () => {
    const nodes = await openTwoNodes()
    const revoked = nodes.map(recordRevocations)
    // Listed before anything else reads the (fresh) bucket: each read leaves a consumer for a while.
    // A watch's consumer may take a moment to be listed by a loaded cluster: one per node.
    const hosts = await eventually(async () => {
      const leaders: string[] = []
      for await (const consumer of (await jetstreamManager(cliConnection)).consumers.list(`KV_${bucketName}`)) leaders.push(consumer.cluster?.leader ?? '')
      return leaders
    }, (leaders) => leaders.length === 2 && leaders.every((leader) => leader !== ''), { timeoutMs: 10_000, intervalMs: 100, what: 'one watch consumer per node' })
    await addDevice(store, { id: 'before', kind: 'manhole', district: 'n' })
    await appliedOnAll(nodes, (r) => r.getDevice('before') !== undefined, 'before on both nodes')
    const server = cluster!.servers.find((s) => s.name === hosts[0])!
    await server.stop()
    try {
      // The writes are the setup, made as an operator would: a CLI read that found the bucket
      // unavailable right after the server went (CSG_NATS_UNAVAILABLE, nothing written) is run again.
      await againWhileUnavailable(() => addDevice(store, { id: 'during', kind: 'manhole', district: 'n' }))
      await againWhileUnavailable(() => removeDevice(store, 'before'))
      const started = performance.now()
      await eventually(() => nodes.every((r) => r.getDevice('during') !== undefined && r.getDevice('before') === undefined), (done) => done, { timeoutMs: 10_000, intervalMs: 20, what: 'changes on both nodes during the outage' })
      console.log(`KV registry: changes made while ${server.name} (hosting ${hosts.filter((h) => h === server.name).length} of the 2 watches) was down reached both nodes ${Math.round(performance.now() - started)} ms after they were written`)
      expect(revoked).toEqual([['before'], ['before']])
    } finally {
      await server.start()
    }
  }, 150_000)
})

async function againWhileUnavailable (action: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await action()
      return
    } catch (err) {
      if (attempt >= 3 || !isGatewayError(err) || err.code !== 'CSG_NATS_UNAVAILABLE') throw err
    }
  }
}
