// Cluster mode: the SensorThings MQTT extension across two gateway nodes on real nats-servers. A
// device on node A, a crew and a scoped consumer on node B: B's subscribers receive A's Observations,
// the consumer only those of its districts; A sends nothing on NATS while nobody subscribes anywhere.
import { connect, type NatsConnection } from '@nats-io/transport-node'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { STA_OBSERVATIONS_SUBJECT } from '../../broker/cluster/names.ts'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

const NORTH_POWER = 'v1.1/Datastreams(\'lp-n1:activePower\')/Observations'

let rig: ClusterRig | undefined
let a: ClusterNodeProcess
let b: ClusterNodeProcess
let nc: NatsConnection | undefined
const clients: MqttClient[] = []
const secrets = new Map<string, string>()

beforeAll(async () => {
  rig = await startClusterRig()
  for (const [id, secret] of await rig.importDevices([{ id: 'lp-n1', kind: 'lamp-post', district: 'north' }, { id: 'lp-s1', kind: 'lamp-post', district: 'south' }])) secrets.set(id, secret)
  secrets.set('crew-all', await rig.addCrew('crew-all'))
  const added = await rig.citygw(['consumer', 'add', 'portal', '--districts', 'north', '--json'])
  if (added.code !== 0) throw new Error(added.stderr)
  secrets.set('portal', (JSON.parse(added.stdout) as { token: string }).token)
  a = await rig.startNode('a')
  b = await rig.startNode('b')
  nc = await connect({ servers: [...rig.nats.urls] })
}, 90_000)
afterAll(async () => {
  for (const client of clients) await client.endAsync(true)
  await nc?.close()
  await rig?.close()
}, 60_000)

function reading (power: number): string {
  return JSON.stringify({ commandedLevel: 50, supplyVoltage: 230, activePower: power })
}
function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
function deviceOf (message: { payload: Buffer }): string {
  return String((JSON.parse(message.payload.toString()) as { '@iot.id': string })['@iot.id']).split(':')[0] ?? ''
}

it('delivers every node\'s Observations to every node\'s subscribers, within their scope, and relays nothing while nobody subscribes', async () => {
  const relayed: string[] = []
  nc!.subscribe(STA_OBSERVATIONS_SUBJECT, { callback: (_err, msg) => { relayed.push(msg.string()) } })
  await nc!.flush()
  const north = await connectDevice(a.mqttUrl, 'lp-n1', secrets.get('lp-n1')!)
  const south = await connectDevice(a.mqttUrl, 'lp-s1', secrets.get('lp-s1')!)
  clients.push(north, south)

  // Nobody subscribes anywhere: accepted readings stay on their node.
  for (let i = 0; i < 5; i++) await north.publishAsync('devices/lp-n1/telemetry', reading(i), { qos: 1 })
  await sleep(500)
  expect(relayed).toEqual([])

  const crew = await connectClient(b.mqttUrl, { clientId: 'crew-all-b', username: 'crew-all', password: secrets.get('crew-all')! })
  const portal = await connectClient(b.mqttUrl, { clientId: 'portal-b', username: 'portal', password: secrets.get('portal')! })
  clients.push(crew, portal)
  const crewAll = await collect(crew, 'v1.1/Observations', 0)
  const crewOne = await collect(crew, NORTH_POWER, 0)
  const portalAll = await collect(portal, 'v1.1/Observations', 0)
  expect(crewAll.granted[0]?.qos).toBe(0)
  expect(portalAll.granted[0]?.qos).toBe(0)

  // Node A learns of B's interest within a moment: publish until the first Observation reaches B.
  let power = 100
  await eventually(async () => {
    await north.publishAsync('devices/lp-n1/telemetry', reading(++power), { qos: 1 })
    return crewOne.messages.filter((m) => m.topic === NORTH_POWER).length
  }, (n) => n > 0, { what: 'a first Observation of node A on node B', timeoutMs: 15_000, intervalMs: 200 })

  await south.publishAsync('devices/lp-s1/telemetry', reading(777), { qos: 1 })
  await north.publishAsync('devices/lp-n1/telemetry', reading(888), { qos: 1 })
  const isLast = (m: { payload: Buffer }): boolean => (JSON.parse(m.payload.toString()) as { result: unknown }).result === 888
  await eventually(() => portalAll.messages.some(isLast) && crewOne.messages.some((m) => m.topic === NORTH_POWER && isLast(m)), Boolean, { what: 'the last Observation on B', timeoutMs: 10_000 })

  const first = JSON.parse(crewOne.messages.filter((m) => m.topic === NORTH_POWER).at(-1)!.payload.toString()) as Record<string, unknown>
  expect(first['@iot.id']).toMatch(/^lp-n1:activePower:\d+$/)
  expect(first.result).toBe(888)
  expect(String(first['@iot.selfLink'])).toContain(new URL(b.httpUrl).port)
  // The crew sees both districts' devices; the consumer of `north` only lp-n1.
  expect(crewAll.messages.some((m) => deviceOf(m) === 'lp-s1')).toBe(true)
  expect(portalAll.messages.length).toBeGreaterThan(0)
  expect(portalAll.messages.map(deviceOf).every((id) => id === 'lp-n1')).toBe(true)
  // One client's collectors see all its messages: those on the Datastream's topic are lp-n1's only.
  expect(crewOne.messages.filter((m) => m.topic === NORTH_POWER).map(deviceOf).every((id) => id === 'lp-n1')).toBe(true)
  expect(relayed.length).toBeGreaterThan(0)

  // The subscribers leave: A stops relaying once B says it has none.
  await crew.endAsync()
  await portal.endAsync()
  await sleep(500)
  const before = relayed.length
  for (let i = 0; i < 5; i++) await north.publishAsync('devices/lp-n1/telemetry', reading(900 + i), { qos: 1 })
  await sleep(500)
  expect(relayed.length).toBe(before)
}, 120_000)
