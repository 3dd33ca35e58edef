// Personal data in the cluster's buckets, with real nats-servers, gateway node processes and the
// CLI: a crew's acknowledgement with a note (of an alarm and of an incident), its API session and its
// maintenance window are stored sealed in the alarms, incidents, session and maintenance buckets
// (`enc1:` values, never the name or note)
// and read in clear over the API; a node whose DATA_KEY_FILE is another key refuses to start and
// says why; `citygw key rotate` refuses while a node runs, then seals the bucket entries again with
// the new key, and the node reads them.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { ALARMS_BUCKET, INCIDENTS_BUCKET, MAINTENANCE_BUCKET, SESSIONS_BUCKET } from '../../broker/cluster/names.ts'
import { basic } from '../helpers/api-client.ts'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { createTestKeyFile } from '../helpers/data-key.ts'
import { connectClient, connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const CREW = 'crew-north'
const NOTE = 'Piet closed the cover'

let rig: ClusterRig | undefined
let node: ClusterNodeProcess
let otherKeyDir: string | undefined
const clients: MqttClient[] = []
let crewSecret: string

interface AlarmView { id: string; deviceId: string; state: string; ackedBy?: string; ackNote?: string }
interface IncidentView { id: string; state: string; members: unknown[]; ackedBy?: string }

const LAMPS = ['lp-f3-1', 'lp-f3-2']
const DARK = { commandedLevel: 0, supplyVoltage: 0, activePower: 0 }

async function bucketValues (bucket: string): Promise<string[]> {
  const nc = await connect({ servers: [...rig!.nats.urls] })
  try {
    const kv = await new Kvm(nc).open(bucket)
    const values: string[] = []
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key)
      if (entry?.operation === 'PUT') values.push(entry.string())
    }
    return values
  } finally {
    await nc.close()
  }
}

async function alarmsOf (url: string): Promise<AlarmView[]> {
  const res = await fetch(`${url}/api/alarms`, { headers: basic(CREW, crewSecret) })
  return ((await res.json()) as { alarms: AlarmView[] }).alarms
}

async function incidentsOf (url: string): Promise<IncidentView[]> {
  const res = await fetch(`${url}/api/incidents`, { headers: basic(CREW, crewSecret) })
  return ((await res.json()) as { incidents: IncidentView[] }).incidents
}

async function keyIdOf (file: string): Promise<string> {
  return (JSON.parse(await readFile(file, 'utf8')) as { current: string }).current
}

beforeAll(async () => {
  rig = await startClusterRig()
  const secrets = await rig.importDevices([{ id: 'mh-1', kind: 'manhole', district: 'north' }, ...LAMPS.map((id) => ({ id, kind: 'lamp-post', district: 'north', group: 'feeder-3' }))])
  crewSecret = await rig.addCrew(CREW, ['north'])
  node = await rig.startNode('gw-a')
  const signIn = await fetch(`${node.httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: CREW, secret: crewSecret }) })
  expect(signIn.status).toBe(200)
  const planned = await fetch(`${node.httpUrl}/api/maintenance`, { method: 'POST', headers: { 'content-type': 'application/json', ...basic(CREW, crewSecret) }, body: JSON.stringify({ device: 'mh-1', from: '+1d', to: '+2d', reason: 'new cover' }) })
  expect(planned.status).toBe(201)
  const sensor = await connectDevice(node.mqttUrl, 'mh-1', secrets.get('mh-1') ?? '')
  clients.push(sensor)
  await sensor.publishAsync('devices/mh-1/telemetry', JSON.stringify({ coverAngle: 120 }), { qos: 1 })
  await eventually(() => alarmsOf(node.httpUrl), (alarms) => alarms.some((a) => a.deviceId === 'mh-1'), { what: 'the cover alarm' })
  const phone = await connectClient(node.mqttUrl, { clientId: 'phone-1', username: CREW, password: crewSecret })
  clients.push(phone)
  await phone.publishAsync('alarms/north/manhole/mh-1/coverOpen/ack', JSON.stringify({ note: NOTE }), { qos: 1 })
  await eventually(() => alarmsOf(node.httpUrl), (alarms) => alarms.some((a) => a.state === 'acknowledged'), { what: 'the acknowledgement' })
  // Both lamp posts of a feeder go dark: an incident, acknowledged by the crew with the same note.
  for (const id of LAMPS) {
    const lamp = await connectDevice(node.mqttUrl, id, secrets.get(id) ?? '')
    clients.push(lamp)
    await lamp.publishAsync(`devices/${id}/telemetry`, JSON.stringify(DARK), { qos: 1 })
  }
  const [incident] = await eventually(() => incidentsOf(node.httpUrl), (i) => i[0]?.members.length === 2, { what: 'the incident with 2 members' })
  const ack = await fetch(`${node.httpUrl}/api/incidents/${incident!.id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', ...basic(CREW, crewSecret) }, body: JSON.stringify({ note: NOTE }) })
  expect(ack.status).toBe(200)
  await eventually(() => bucketValues(INCIDENTS_BUCKET), (values) => values.some((v) => v.includes('"acknowledged"')), { what: 'the acknowledged incident in the bucket' })
}, 90_000)

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await rig?.close()
  if (otherKeyDir !== undefined) await removeTempDir(otherKeyDir)
}, 60_000)

it('keeps the name and the note sealed in the alarms, incidents and session buckets, and shows them in clear over the API', async () => {
  const keyId = await keyIdOf(rig!.env.DATA_KEY_FILE!)
  const [alarm] = (await bucketValues(ALARMS_BUCKET)).map((v) => JSON.parse(v) as { alarm: AlarmView })
  expect(alarm?.alarm).toMatchObject({ state: 'acknowledged', ackedBy: expect.stringMatching(new RegExp(`^enc1:${keyId}:`)) as string, ackNote: expect.stringMatching(new RegExp(`^enc1:${keyId}:`)) as string })
  const sessions = await bucketValues(SESSIONS_BUCKET)
  expect(sessions).toHaveLength(1)
  expect((JSON.parse(sessions[0]!) as { name: string }).name).toMatch(new RegExp(`^enc1:${keyId}:`))
  const windows = await bucketValues(MAINTENANCE_BUCKET)
  expect((JSON.parse(windows[0]!) as { createdBy: string }).createdBy).toMatch(new RegExp(`^enc1:${keyId}:`))
  const incidents = await bucketValues(INCIDENTS_BUCKET)
  expect(incidents).toHaveLength(1)
  expect((JSON.parse(incidents[0]!) as { incident: IncidentView }).incident).toMatchObject({ state: 'acknowledged', ackedBy: expect.stringMatching(new RegExp(`^enc1:${keyId}:[A-Za-z0-9_-]+$`)) as string })
  for (const value of [...await bucketValues(ALARMS_BUCKET), ...incidents, ...sessions, ...windows]) {
    expect(value).not.toContain(CREW)
    expect(value).not.toContain('Piet')
  }
  expect((await alarmsOf(node.httpUrl))[0]).toMatchObject({ ackedBy: CREW, ackNote: NOTE })
  expect((await incidentsOf(node.httpUrl))[0]).toMatchObject({ state: 'acknowledged', ackedBy: CREW })
})

it('a node with another key file refuses to start and says why', async () => {
  otherKeyDir = await makeTempDir('csg-other-key-')
  const other = await createTestKeyFile(otherKeyDir)
  const started = await rig!.citygw(['start'], { DATA_KEY_FILE: other, NODE_NAME: 'gw-b', MQTT_HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', DATA_DIR: join(otherKeyDir, 'data') })
  expect(started.code).not.toBe(0)
  expect(started.stderr).toContain('CSG_DATA_KEY_MISSING')
  expect(started.stdout).toContain('sealed with a key this node')
})

it('rotate refuses while a node runs, then seals the bucket entries with the new key; the node reads them', async () => {
  const before = await keyIdOf(rig!.env.DATA_KEY_FILE!)
  const refused = await rig!.citygw(['key', 'rotate'])
  expect(refused.code).not.toBe(0)
  expect(refused.stderr).toContain('gw-a')
  expect(refused.stderr).toContain('CSG_DATA_DIR_LOCKED')

  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
  await node.stop()
  const rotated = await rig!.citygw(['key', 'rotate', '--json'])
  expect(rotated.code, rotated.stderr).toBe(0)
  const outcome = JSON.parse(rotated.stdout) as { keyId: string; previousKeyId: string; buckets: { alarms: number; incidents: number; sessions: number; maintenance: number } }
  expect(outcome).toMatchObject({ previousKeyId: before, buckets: { alarms: 1 + LAMPS.length, incidents: 1, sessions: 1, maintenance: 1 } })
  for (const value of [...await bucketValues(ALARMS_BUCKET), ...await bucketValues(INCIDENTS_BUCKET), ...await bucketValues(SESSIONS_BUCKET), ...await bucketValues(MAINTENANCE_BUCKET)]) {
    expect(value).toContain(`enc1:${outcome.keyId}:`)
    expect(value).not.toContain(`enc1:${before}:`)
  }

  node = await rig!.startNode('gw-a')
  expect((await alarmsOf(node.httpUrl)).find((a) => a.deviceId === 'mh-1')).toMatchObject({ ackedBy: CREW, ackNote: NOTE })
  expect((await incidentsOf(node.httpUrl))[0]).toMatchObject({ state: 'acknowledged', ackedBy: CREW })
})
