// An incident's members are marked cleared by the node whose alarms they are, whatever the timing,
// on a real nats-server: a clear that came before the incident reached the node (another node put
// the alarm in it, having seen the raise but not yet the clear), and a clear whose compare-and-set
// tries all lost while other writers kept changing the incident, and a clear made while NATS was
// down. A member never marked cleared would keep the incident open for good.
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import type { AlarmEvent, AlarmRecord } from '../../../broker/alarms/alarm.ts'
import { storedIncidentSchema, type StoredIncident } from '../../../broker/alarms/incident-record.ts'
import { DEFAULT_INCIDENT_RULES } from '../../../broker/alarms/incident-rules.ts'
import { startClusterIncidents, type ClusterIncidents } from '../../../broker/cluster/cluster-incidents.ts'
import { openKvKeys, type KvKeys } from '../../../broker/cluster/kv-cas.ts'
import { kvKeyOf } from '../../../broker/cluster/kv-key.ts'
import { INCIDENTS_BUCKET } from '../../../broker/cluster/names.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'
import { eventually } from '../../helpers/wait.ts'

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
const GROUP = 'feeder-7'

let cluster: NatsCluster | undefined
let nc: NatsConnection
/** The other writers: a test's stand-in for the other nodes of the cluster. */
let otherNc: NatsConnection
let others: KvKeys
const nodes: ClusterIncidents[] = []

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 1 })
  // Both ride out the server's restart in the last test.
  nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
  otherNc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
}, 60_000)
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})
afterAll(async () => {
  await nc?.close()
  await otherNc?.close()
  await cluster?.close()
})

async function startNode (): Promise<ClusterIncidents> {
  const node = await startClusterIncidents({
    nc,
    replicas: 1,
    rules: () => DEFAULT_INCIDENT_RULES,
    groupOf: () => GROUP,
    groupSize: () => 20,
    acknowledgeMember: () => Promise.resolve(true),
    out: { publish: () => Promise.resolve(), removeRetained: () => Promise.resolve() },
    log,
  })
  nodes.push(node)
  // The bucket exists once a node has started: the other writers open it then.
  others = openKvKeys(jetstream(otherNc), await jetstreamManager(otherNc), INCIDENTS_BUCKET)
  return node
}

function alarm (district: string, deviceId: string, state: AlarmRecord['state']): AlarmRecord {
  const at = new Date().toISOString()
  return {
    id: `alarm-${deviceId}`, type: 'supplyLoss', severity: 'major', state, deviceId, kind: 'lamp-post', district,
    value: 0, threshold: 180, message: 'no supply', raisedAt: at, updatedAt: at, ...(state === 'cleared' ? { clearedAt: at } : {}),
  }
}

function event (change: AlarmEvent['change'], record: AlarmRecord): AlarmEvent {
  return { change, alarm: record }
}

function keyOf (district: string): string {
  return `${kvKeyOf(district)}.${kvKeyOf(GROUP)}.supplyLoss`
}

/** An open incident of `members` (device ids) as another node would write it, by compare-and-set on an empty key. */
async function openedElsewhere (district: string, members: readonly string[]): Promise<StoredIncident> {
  const at = new Date().toISOString()
  const stored: StoredIncident = {
    incident: {
      id: `incident-${district}`, type: 'supplyLoss', group: GROUP, district, severity: 'major',
      members: members.map((deviceId) => ({ deviceId, alarmId: `alarm-${deviceId}` })), openedAt: at, updatedAt: at, state: 'open',
    },
    cleared: [],
  }
  expect(await others.compareAndSet(keyOf(district), JSON.stringify(stored), 0)).toBeGreaterThan(0)
  return stored
}

async function storedAt (district: string): Promise<StoredIncident | undefined> {
  const latest = await others.readLatest(keyOf(district))
  return latest?.value === undefined ? undefined : storedIncidentSchema.parse(JSON.parse(Buffer.from(latest.value).toString('utf8')))
}

/** A node whose own raise of `deviceId` is the one member of an incident another node opened, seen by the node. */
async function nodeWithOwnMemberIn (district: string, deviceId: string): Promise<ClusterIncidents> {
  const node = await startNode()
  node.observe(event('raised', alarm(district, deviceId, 'active')), true)
  await openedElsewhere(district, [deviceId])
  await eventually(() => node.list().find((i) => i.id === `incident-${district}`)?.state, (s) => s === 'open', { what: 'the incident at this node', timeoutMs: 10_000 })
  return node
}

it('marks a clear that came before the incident holding it reached this node', async () => {
  const node = await startNode()
  const devices = ['lp-e-1', 'lp-e-2']
  // This node's two raises (too few for an incident here) and their clears.
  for (const id of devices) node.observe(event('raised', alarm('east', id, 'active')), true)
  for (const id of devices) node.observe(event('cleared', alarm('east', id, 'cleared')), true)
  // Another node, which saw the raises but not yet the clears, opened an incident with them and one of its own.
  await openedElsewhere('east', [...devices, 'lp-e-9'])
  const marked = await eventually(() => storedAt('east'), (s) => s?.cleared.length === 2, { what: 'both clears marked in the bucket', timeoutMs: 10_000 })
  expect(new Set(marked!.cleared)).toEqual(new Set(['alarm-lp-e-1', 'alarm-lp-e-2']))
  expect(marked!.incident.state).toBe('open')
  // The other node's member clears there: the incident closes.
  const latest = await others.readLatest(keyOf('east'))
  await others.compareAndSet(keyOf('east'), JSON.stringify({ ...marked!, cleared: [...marked!.cleared, 'alarm-lp-e-9'], incident: { ...marked!.incident, state: 'closed', closedAt: new Date().toISOString() } }), latest!.revision)
  await eventually(() => node.list().find((i) => i.id === 'incident-east')?.state, (s) => s === 'closed', { what: 'the incident closed at this node', timeoutMs: 10_000 })
}, 30_000)

it('marks a clear whose every try lost while other writers kept changing the incident, once they stop', async () => {
  const node = await nodeWithOwnMemberIn('west', 'lp-w-1')

  // Four writers rewrite the incident as it is, each with 20 compare-and-sets in flight on the
  // revisions after the one it read (so none undoes a clear: once one lands, the rest of that round
  // fail), as fast as the server takes them: 3 s, or 20,000 writes at most.
  const until = Date.now() + 3000
  let writes = 0
  const rewrite = async () => {
    while (Date.now() < until && writes < 20_000) {
      const latest = await others.readLatest(keyOf('west'))
      if (latest?.value === undefined) return
      const text = Buffer.from(latest.value).toString('utf8')
      const revisions = await Promise.all(Array.from({ length: 20 }, (_, i) => others.compareAndSet(keyOf('west'), text, latest.revision + i)))
      writes += revisions.filter((r) => r !== undefined).length
    }
  }
  const writers = Promise.all([rewrite(), rewrite(), rewrite(), rewrite()])
  await sleep(200)
  node.observe(event('cleared', alarm('west', 'lp-w-1', 'cleared')), true)
  await writers
  expect(writes).toBeGreaterThan(100)
  const closed = await eventually(() => storedAt('west'), (s) => s?.incident.state === 'closed', { what: 'the incident closed in the bucket', timeoutMs: 10_000 })
  expect(closed!.cleared).toEqual(['alarm-lp-w-1'])
  await eventually(() => node.list().find((i) => i.id === 'incident-west')?.state, (s) => s === 'closed', { what: 'the incident closed at this node', timeoutMs: 10_000 })
}, 30_000)

// Last: it stops the server the other tests share.
it('marks a clear made while NATS was down, once it is back', async () => {
  const node = await nodeWithOwnMemberIn('south', 'lp-s-1')
  const server = cluster!.servers[0]!
  await server.stop()
  node.observe(event('cleared', alarm('south', 'lp-s-1', 'cleared')), true)
  // Longer than a JetStream request waits (5 s): the marking fails rather than waiting it out.
  await sleep(7000)
  await server.start()
  const closed = await eventually(() => storedAt('south').catch(() => undefined), (s) => s?.incident.state === 'closed', { what: 'the incident closed in the bucket', timeoutMs: 30_000 })
  expect(closed!.cleared).toEqual(['alarm-lp-s-1'])
}, 60_000)
