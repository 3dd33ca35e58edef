// Incidents across two real gateway nodes (`citygw start` with NATS_URL, a 3-server nats-server
// cluster, influxd) with MQTT.js lamp posts and crew phones: 20 lamp posts of one feeder, half
// connected to each node, lose supply within a minute → the phones on both nodes get one incident
// (one id) with all 20 members, 20 member alarms are recorded (one `alarms` point each), and an
// acknowledgement over MQTT at one node reaches the phone at the other.
import { setTimeout as sleep } from 'node:timers/promises'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

const LAMPS = Array.from({ length: 20 }, (_, i) => `lp-f12-${String(i + 1).padStart(2, '0')}`)
const DARK = { commandedLevel: 0, supplyVoltage: 0, activePower: 0 }

interface Incident { id: string; state: string; members: { deviceId: string; alarmId: string }[]; ackedBy?: string }

let rig: ClusterRig | undefined
let nodeA: ClusterNodeProcess
let nodeB: ClusterNodeProcess
const clients: MqttClient[] = []
let secrets: Map<string, string>
let crewSecret: string

beforeAll(async () => {
  rig = await startClusterRig()
  secrets = await rig.importDevices(LAMPS.map((id) => ({ id, kind: 'lamp-post', district: 'north', group: 'feeder-12' })))
  crewSecret = await rig.addCrew('crew-north', ['north'])
  nodeA = await rig.startNode('gw-a')
  nodeB = await rig.startNode('gw-b')
}, 90_000)
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await rig?.close()
}, 60_000)

it('20 lamp posts over two nodes lose supply → one incident for the phones of both nodes, 20 member alarms recorded', async () => {
  const phones = await Promise.all([nodeA, nodeB].map(async (node, i) => {
    const client = await connectClient(node.mqttUrl, { clientId: `phone-${i}`, username: 'crew-north', password: crewSecret })
    clients.push(client)
    return { client, seen: await collect(client, 'incidents/north/#') }
  }))
  const incidents = (i: number): Incident[] => phones[i]!.seen.messages.map((m) => JSON.parse(m.payload.toString()) as Incident)
  for (const [i, id] of LAMPS.entries()) {
    const client = await connectDevice((i % 2 === 0 ? nodeA : nodeB).mqttUrl, id, secrets.get(id) ?? '')
    clients.push(client)
    await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(DARK), { qos: 1 })
    await sleep(50)
  }
  for (const i of [0, 1]) await eventually(() => incidents(i), (m) => m.at(-1)?.members.length === 20, { what: `the incident with 20 members at phone ${i}`, timeoutMs: 20_000 })
  const ids = new Set([...incidents(0), ...incidents(1)].map((m) => m.id))
  expect(ids.size).toBe(1)
  const incidentId = [...ids][0]!
  expect(new Set(incidents(0).at(-1)!.members.map((m) => m.deviceId))).toEqual(new Set(LAMPS))

  // 20 member alarms, each raise recorded once.
  const rows = await eventually(
    async () => (await rig!.influx.query('SELECT "state", "device_id" FROM "alarms" WHERE "type" = \'supplyLoss\' AND "change" = \'raised\'', 'city'))[0]?.series?.[0]?.values ?? [],
    (v) => v.length >= 20, { what: '20 raised supplyLoss points', timeoutMs: 20_000 })
  await sleep(500)
  expect(rows).toHaveLength(20)
  expect(new Set(rows.map((r) => r[2]))).toEqual(new Set(LAMPS))

  // Acknowledged over MQTT at node B, seen by the phone at node A.
  await phones[1]!.client.publishAsync(`incidents/north/${incidentId}/ack`, JSON.stringify({ note: 'feeder 12' }), { qos: 1 })
  await eventually(() => incidents(0).at(-1), (m) => m?.state === 'acknowledged' && m.ackedBy === 'crew-north', { what: 'the acknowledged incident at node A', timeoutMs: 10_000 })
}, 120_000)
