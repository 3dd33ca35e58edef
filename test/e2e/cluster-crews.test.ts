// Alarms across two gateway nodes: a cover lifted on a device connected to node A reaches a crew
// on node B once; a crew on B acknowledges it (MQTT) and one on A through the API; late
// subscribers on either node get it retained; it clears once; one `alarms` point per change.
// mosquitto_pub / mosquitto_sub (Debian mosquitto-clients) take the same path.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { basic } from '../helpers/api-client.ts'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let rig: ClusterRig | undefined
let nodeA: ClusterNodeProcess
let nodeB: ClusterNodeProcess
const clients: MqttClient[] = []
let secrets: Map<string, string>
let crewSecret: string

beforeAll(async () => {
  rig = await startClusterRig()
  secrets = await rig.importDevices([
    { id: 'mh-1', kind: 'manhole', district: 'north' },
    { id: 'mh-2', kind: 'manhole', district: 'north' },
    { id: 'mh-3', kind: 'manhole', district: 'north' },
  ])
  crewSecret = await rig.addCrew('crew-north', ['north'])
  nodeA = await rig.startNode('gw-a')
  nodeB = await rig.startNode('gw-b')
}, 90_000)
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await rig?.close()
}, 60_000)

async function crew (node: ClusterNodeProcess, phone: string): Promise<MqttClient> {
  const client = await connectClient(node.mqttUrl, { clientId: phone, username: 'crew-north', password: crewSecret })
  clients.push(client)
  return client
}

async function device (node: ClusterNodeProcess, id: string): Promise<MqttClient> {
  const client = await connectDevice(node.mqttUrl, id, secrets.get(id) ?? '')
  clients.push(client)
  return client
}

async function alarmPoints (deviceId: string): Promise<string[]> {
  const [result] = await rig!.influx.query(`SELECT "state" FROM alarms WHERE device_id = '${deviceId}'`, 'city')
  return (result?.series?.[0]?.values ?? []).map((row) => String(row[1]))
}

it('a change made on one node reaches crews on both, once, and is recorded once', async () => {
  const topic = 'alarms/north/manhole/mh-1/coverOpen'
  const onA = await collect(await crew(nodeA, 'phone-a'), 'alarms/north/#')
  const onB = await collect(await crew(nodeB, 'phone-b'), 'alarms/north/#')
  const mh = await device(nodeA, 'mh-1')
  const now = Date.now()
  await mh.publishAsync('devices/mh-1/telemetry', JSON.stringify({ ts: now, coverAngle: 120 }), { qos: 1 })
  await Promise.all([onA.waitFor(1), onB.waitFor(1)])
  expect(onB.messages[0]?.topic).toBe(topic)
  expect(onB.json(0)).toMatchObject({ type: 'coverOpen', state: 'active', severity: 'critical', deviceId: 'mh-1', district: 'north' })
  expect(onA.json(0).id).toBe(onB.json(0).id)

  // Acknowledged by a crew on the other node than the device's.
  const acker = await crew(nodeB, 'phone-b2')
  await acker.publishAsync(`${topic}/ack`, JSON.stringify({ note: 'on my way' }), { qos: 1 })
  await Promise.all([onA.waitFor(2), onB.waitFor(2)])
  for (const seen of [onA, onB]) expect(seen.json(1)).toMatchObject({ id: onB.json(0).id, state: 'acknowledged', ackedBy: 'crew-north' })

  // Late subscribers on either node get the acknowledged alarm retained.
  for (const node of [nodeA, nodeB]) {
    const late = await collect(await crew(node, `late-${node.name}`), 'alarms/north/#')
    await late.waitFor(1)
    expect(late.messages[0]?.retain).toBe(true)
    expect(late.json(0)).toMatchObject({ id: onB.json(0).id, state: 'acknowledged' })
  }

  // Settled cover: below 7° for 60 s of reading time clears it, once.
  await mh.publishAsync('devices/mh-1/telemetry', JSON.stringify({ ts: now + 1000, coverAngle: 2 }), { qos: 1 })
  await mh.publishAsync('devices/mh-1/telemetry', JSON.stringify({ ts: now + 62_000, coverAngle: 2 }), { qos: 1 })
  await Promise.all([onA.waitFor(3), onB.waitFor(3)])
  for (const seen of [onA, onB]) expect(seen.json(2)).toMatchObject({ id: onB.json(0).id, state: 'cleared', ackedBy: 'crew-north' })
  const after = await collect(await crew(nodeB, 'after-clear'), 'alarms/north/#')
  await new Promise((resolve) => setTimeout(resolve, 500))
  expect(after.messages).toHaveLength(0)

  const points = await eventually(() => alarmPoints('mh-1'), (states) => states.length >= 3, { what: 'three alarms points', timeoutMs: 20_000, intervalMs: 250 })
  await new Promise((resolve) => setTimeout(resolve, 1000))
  expect(await alarmPoints('mh-1')).toEqual(['active', 'acknowledged', 'cleared'])
  expect(points).toHaveLength(3)
  expect(onA.messages).toHaveLength(3)
  expect(onB.messages).toHaveLength(3)
}, 60_000)

it('a crew acknowledges through the API of the node the device is not on', async () => {
  const onB = await collect(await crew(nodeB, 'phone-api'), 'alarms/north/manhole/mh-2/#')
  const mh = await device(nodeB, 'mh-2')
  await mh.publishAsync('devices/mh-2/telemetry', JSON.stringify({ coverAngle: 150 }), { qos: 1 })
  await onB.waitFor(1)
  const id = String(onB.json(0).id)
  const res = await fetch(`${nodeA.httpUrl}/api/alarms/${id}/ack`, {
    method: 'POST',
    headers: { ...basic('crew-north', crewSecret), 'content-type': 'application/json' },
    body: JSON.stringify({ note: 'from the console' }),
  })
  expect(res.status).toBe(200)
  await onB.waitFor(2)
  expect(onB.json(1)).toMatchObject({ id, state: 'acknowledged', ackedBy: 'crew-north' })
  const again = await fetch(`${nodeB.httpUrl}/api/alarms/${id}/ack`, {
    method: 'POST',
    headers: { ...basic('crew-north', crewSecret), 'content-type': 'application/json' },
    body: '{}',
  })
  expect(again.status).toBe(409)
}, 30_000)

it('clients no one here wrote: mosquitto_pub raises on node A, mosquitto_sub on node B receives it', async () => {
  const run = promisify(execFile)
  const port = (url: string): string => new URL(url).port
  // The crew's subscriber waits for the first live (not retained) message on mh-3's alarms.
  const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port(nodeB.mqttUrl), '-i', 'mosq-crew', '-u', 'crew-north', '-P', crewSecret, '-V', 'mqttv311',
    '-q', '1', '-t', 'alarms/north/manhole/mh-3/#', '-R', '-C', '1', '-W', '15', '-v'], { timeout: 20_000 })
  await new Promise((resolve) => setTimeout(resolve, 500))
  const secret = secrets.get('mh-3') ?? ''
  await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port(nodeA.mqttUrl), '-i', 'mh-3', '-u', 'mh-3', '-P', secret, '-V', 'mqttv311',
    '-q', '1', '-t', 'devices/mh-3/telemetry', '-m', JSON.stringify({ coverAngle: 130 })], { timeout: 10_000 })
  const { stdout } = await sub
  const [topic, ...json] = stdout.trim().split(' ')
  expect(topic).toBe('alarms/north/manhole/mh-3/coverOpen')
  expect(JSON.parse(json.join(' '))).toMatchObject({ type: 'coverOpen', state: 'active', deviceId: 'mh-3' })
}, 30_000)
