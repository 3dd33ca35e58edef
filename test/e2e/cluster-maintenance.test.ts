// Maintenance windows in cluster mode, on a real nats-server: two gateway nodes (in this process,
// each with its own DATA_DIR) share the csg-maintenance bucket. A window added with `citygw
// maintenance add` and NATS_URL holds on both nodes: a cover lifted at node A is recorded (both
// nodes' API show it with the window id) but crews at either node receive nothing; ending it with
// the CLI delivers the open alarm, retained, to the crews of both nodes.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withRegistryStore } from '../../broker/cluster/configured-registry-store.ts'
import { loadConfig } from '../../broker/config.ts'
import { addCrew, addDevice, addOperator } from '../../broker/registry/provision.ts'
import { basic } from '../helpers/api-client.ts'
import { runCitygw } from '../helpers/citygw.ts'
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { createTestKeyFile } from '../helpers/data-key.ts'

let nats: NatsCluster | undefined
let scratch: string
let env: Record<string, string>
const nodes: TestGateway[] = []
const clients: MqttClient[] = []
let crewSecret: string
let opsSecret: string
let deviceSecret: string

beforeAll(async () => {
  nats = await startNatsCluster({ nodes: 1 })
  scratch = await makeTempDir('csg-cluster-maintenance-')
  env = { NATS_URL: nats.urls.join(','), LOG_LEVEL: 'info', DATA_KEY_FILE: await createTestKeyFile(scratch) }
  const config = loadConfig({ ...env, DATA_DIR: scratch })
  crewSecret = (await withRegistryStore(config, (store) => addCrew(store, 'crew-north', ['north']))).secret
  opsSecret = (await withRegistryStore(config, (store) => addOperator(store, 'ops-1'))).secret
  deviceSecret = (await withRegistryStore(config, (store) => addDevice(store, { id: 'mh-1', kind: 'manhole', district: 'north' }))).secret
}, 60_000)
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  for (const node of nodes) await node.close(true)
  await nats?.close()
  if (scratch !== undefined) await removeTempDir(scratch)
}, 60_000)

async function startNode (name: string): Promise<TestGateway> {
  const node = await startTestGateway({ env: { ...env, NODE_NAME: name } })
  nodes.push(node)
  return node
}

async function crewAt (node: TestGateway, clientId: string) {
  const client = await connectClient(node.mqttUrl, { clientId, username: 'crew-north', password: crewSecret })
  clients.push(client)
  return collect(client, 'alarms/north/#')
}

async function openAlarm (node: TestGateway): Promise<{ deviceId: string; maintenance?: string } | undefined> {
  const res = await fetch(`${node.httpUrl}/api/alarms?state=open`, { headers: basic('ops-1', opsSecret) })
  return ((await res.json()) as { alarms: { deviceId: string; maintenance?: string }[] }).alarms.find((a) => a.deviceId === 'mh-1')
}

it('a window added by the CLI holds on every node; ending it delivers the open alarm on every node', async () => {
  const [a, b] = [await startNode('gw-a'), await startNode('gw-b')]
  const added = await runCitygw(['maintenance', 'add', '--device', 'mh-1', '--to', '+1h', '--reason', 'cover works', '--json'], { ...env, DATA_DIR: scratch }, 60_000)
  expect(added.stderr).toBe('')
  const window = JSON.parse(added.stdout) as { id: string }
  for (const node of [a, b]) {
    await expect.poll(async () => {
      const res = await fetch(`${node.httpUrl}/api/maintenance?status=running`, { headers: basic('ops-1', opsSecret) })
      return ((await res.json()) as { windows: { id: string }[] }).windows.map((w) => w.id)
    }, { timeout: 5000 }).toEqual([window.id])
  }
  const [seenA, seenB] = [await crewAt(a, 'phone-a'), await crewAt(b, 'phone-b')]

  const device = await connectDevice(a.mqttUrl, 'mh-1', deviceSecret)
  clients.push(device)
  await device.publishAsync('devices/mh-1/telemetry', JSON.stringify({ coverAngle: 120 }), { qos: 1 })
  for (const node of [a, b]) await expect.poll(async () => (await openAlarm(node))?.maintenance, { timeout: 5000 }).toBe(window.id)
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(seenA.messages).toEqual([])
  expect(seenB.messages).toEqual([])

  const ended = await runCitygw(['maintenance', 'end', window.id], { ...env, DATA_DIR: scratch }, 60_000)
  expect(ended.code).toBe(0)
  await seenA.waitFor(1)
  await seenB.waitFor(1)
  expect(seenB.json(0)).toMatchObject({ deviceId: 'mh-1', type: 'coverOpen', state: 'active', maintenance: window.id })
  const late = await crewAt(b, 'phone-late')
  await late.waitFor(1)
  expect(late.messages[0]?.retain).toBe(true)
})
