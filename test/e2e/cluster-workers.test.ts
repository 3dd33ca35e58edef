// `citygw start --workers 2`: two gateway nodes in worker processes of one supervisor, sharing the
// MQTT and HTTP ports. Both join the cluster as nodes of their own, devices land on both, every
// reading is stored, and SIGTERM to the supervisor stops both workers cleanly.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterRig } from '../helpers/cluster.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let rig: ClusterRig | undefined
beforeAll(async () => { rig = await startClusterRig() }, 90_000)
afterAll(async () => { await rig?.close() }, 60_000)

interface Status { nodes: { node: string, connections: number }[] }

async function status (): Promise<Status> {
  const result = await rig!.citygw(['cluster', 'status', '--json'])
  return JSON.parse(result.stdout) as Status
}

it('runs two nodes on one port pair, shares the devices between them and stops both on SIGTERM', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `lp-w${i}`)
  const secrets = await rig!.importDevices(ids.map((id) => ({ id, kind: 'lamp-post', district: 'centre' })))
  const box = await rig!.startNode('box', { MQTT_PORT: '0', HTTP_PORT: '0' }, ['--workers', '2'])
  await eventually(status, (s) => s.nodes.length === 2, { what: 'two worker nodes in the cluster', timeoutMs: 20_000, intervalMs: 500 })
  expect((await status()).nodes.map((n) => n.node)).toEqual(['box-w0', 'box-w1'])

  const clients: MqttClient[] = []
  for (const id of ids) clients.push(await connectDevice(box.mqttUrl, id, secrets.get(id) ?? ''))
  const base = Date.now() - 60_000
  await Promise.all(clients.map(async (client, d) => {
    for (let i = 0; i < 10; i++) {
      await client.publishAsync(`devices/${ids[d]}/telemetry`, JSON.stringify({ ts: base + i, commandedLevel: 50, supplyVoltage: 230, activePower: 40 }), { qos: 1 })
    }
  }))
  // Each worker reports its own connections in its heartbeat: both took some.
  const spread = await eventually(status, (s) => s.nodes.reduce((sum, n) => sum + n.connections, 0) === ids.length,
    { what: 'heartbeats counting every connection', timeoutMs: 15_000, intervalMs: 500 })
  expect(spread.nodes.every((n) => n.connections > 0)).toBe(true)
  await eventually(() => rig!.influx.count('city', 'lamp_post', 'supplyVoltage'), (n) => n === ids.length * 10, { what: 'every reading stored', timeoutMs: 30_000, intervalMs: 250 })

  await Promise.all(clients.map((c) => c.endAsync()))
  expect(await box.stop()).toBe(0)
}, 120_000)
