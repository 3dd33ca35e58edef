// The registry and sessions across two gateway nodes: a device added with the CLI is let in on
// both nodes within a second; a client id connecting to node B closes its older connection on
// node A (takeover); removing a device disconnects it on whichever node it is connected to;
// `citygw cluster status` lists both nodes.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { connectDevice, connectOutcome } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let rig: ClusterRig | undefined
let nodeA: ClusterNodeProcess
let nodeB: ClusterNodeProcess
const clients: MqttClient[] = []

beforeAll(async () => {
  rig = await startClusterRig()
  nodeA = await rig.startNode('gw-a')
  nodeB = await rig.startNode('gw-b')
}, 90_000)
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await rig?.close()
}, 60_000)

function closed (client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()))
}

async function addDevice (id: string): Promise<string> {
  const result = await rig!.citygw(['device', 'add', id, '--kind', 'lamp-post', '--district', 'centre', '--json'])
  expect(result.code, result.stderr).toBe(0)
  return (JSON.parse(result.stdout) as { secret: string }).secret
}

it('a device added while both nodes run is let in on both within a second', async () => {
  const secret = await addDevice('lp-new')
  const startedAt = Date.now()
  for (const node of [nodeA, nodeB]) {
    await eventually(() => connectOutcome(node.mqttUrl, { clientId: 'lp-new', username: 'lp-new', password: secret }), (outcome) => outcome === 'connected',
      { what: `lp-new let in on ${node.name}`, timeoutMs: 3000, intervalMs: 50 })
  }
  expect(Date.now() - startedAt).toBeLessThan(2000)
})

it('a client id connecting to node B closes its older connection on node A', async () => {
  const secret = await addDevice('lp-move')
  const onA = await eventually(() => connectDevice(nodeA.mqttUrl, 'lp-move', secret), () => true, { what: 'lp-move on A', timeoutMs: 3000 })
  clients.push(onA)
  const closedOnA = closed(onA)
  const onB = await connectDevice(nodeB.mqttUrl, 'lp-move', secret)
  clients.push(onB)
  await Promise.race([closedOnA, new Promise((_resolve, reject) => setTimeout(() => reject(new Error('A kept the old connection')), 3000))])
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(onB.connected).toBe(true)
})

it('removing a device disconnects it on the node it is connected to and refuses it everywhere', async () => {
  const secret = await addDevice('lp-gone')
  const onB = await eventually(() => connectDevice(nodeB.mqttUrl, 'lp-gone', secret), () => true, { what: 'lp-gone on B', timeoutMs: 3000 })
  clients.push(onB)
  const closedOnB = closed(onB)
  const removed = await rig!.citygw(['device', 'remove', 'lp-gone'])
  expect(removed.code, removed.stderr).toBe(0)
  await Promise.race([closedOnB, new Promise((_resolve, reject) => setTimeout(() => reject(new Error('B kept the removed device connected')), 3000))])
  for (const node of [nodeA, nodeB]) {
    expect(await connectOutcome(node.mqttUrl, { clientId: 'lp-gone', username: 'lp-gone', password: secret })).toMatch(/Bad username or password|Not authorized/)
  }
})

it('citygw cluster status lists both nodes and the telemetry stream', async () => {
  const result = await rig!.citygw(['cluster', 'status', '--json'])
  expect(result.code, result.stderr).toBe(0)
  const status = JSON.parse(result.stdout) as { nodes: { node: string }[], telemetry: { replicas: number } | null, offlineCheckHolder: string | null }
  expect(status.nodes.map((n) => n.node)).toEqual(['gw-a', 'gw-b'])
  expect(status.telemetry?.replicas).toBe(3)
  expect(['gw-a', 'gw-b']).toContain(status.offlineCheckHolder)
  const human = await rig!.citygw(['cluster', 'status'])
  expect(human.stdout).toMatch(/gateway nodes alive: 2/)
})

it('every metric names its node; JetStream is up on both and one of them holds the offline check', async () => {
  const held: number[] = []
  for (const node of [nodeA, nodeB]) {
    const text = await (await fetch(`${node.httpUrl}/metrics`)).text()
    expect(text).toMatch(new RegExp(`^citygw_mqtt_connections\\{node="${node.name}"\\} \\d+$`, 'm'))
    expect(text).toMatch(new RegExp(`^citygw_cluster_jetstream_up\\{node="${node.name}"\\} 1$`, 'm'))
    held.push(Number(new RegExp(`^citygw_cluster_offline_check_held\\{node="${node.name}"\\} (\\d)$`, 'm').exec(text)?.[1]))
  }
  expect(held.sort()).toEqual([0, 1])
})
