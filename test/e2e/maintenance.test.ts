// Maintenance windows through the real gateway, InfluxDB 1.x, MQTT.js devices and crews and the
// `citygw` command: during a window the alarms of covered devices are recorded (API, `alarms`
// points with a `maintenance` field) but crews receive nothing; when the window is ended (CLI or
// API) the alarms still open reach the crews, retained; deviceOffline is not raised for covered
// devices; the API lets crews manage windows of their districts only.
import { writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic, openEventStream } from '../helpers/api-client.ts'
import { runCitygw } from '../helpers/citygw.ts'
import { registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

interface Window { id: string; scope: { kind: string; name: string }; from: string; to: string; reason: string; createdBy: string; status?: string; endedBy?: string }
interface Alarm { id: string; deviceId: string; type: string; state: string; maintenance?: string }

let influx: InfluxDb1Server
let gw: TestGateway
let rulesDir: string
let crewAll: MqttClient
let seen: Awaited<ReturnType<typeof collect>>
const clients: MqttClient[] = []
const secrets: Record<string, string> = {}
let ops: Record<string, string>
/** A crew whose phones subscribe later: what they get is what is retained. */
let lateSecret: string
/** What the webhook receiver got: `change deviceId` per POST. */
const hooks: string[] = []
let hookServer: Server
let north: Record<string, string>
let south: Record<string, string>

const DEVICES: [id: string, district: string][] = [
  ['mh-1', 'north'], ['mh-2', 'south'], ['mh-3', 'north'], ['mh-quiet', 'west'], ['mh-loud', 'west'], ['mh-r1', 'east'], ['mh-r2', 'east'],
]

beforeAll(async () => {
  influx = await startInfluxDb1({ databases: ['city'] })
  hookServer = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { change: string; alarm: { deviceId: string } }
      hooks.push(`${body.change} ${body.alarm.deviceId}`)
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve))
  rulesDir = await makeTempDir('csg-maint-rules-')
  const rulesFile = join(rulesDir, 'rules.json')
  // Two manholes with a short offline period: one under maintenance, one as the control.
  const offline = { expectedIntervalSec: 0.3, missedIntervals: 1 }
  await writeFile(rulesFile, JSON.stringify({ devices: { 'mh-quiet': { offline }, 'mh-loud': { offline } } }))
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', ALARM_RULES_FILE: rulesFile, ALARM_OFFLINE_CHECK_MS: '100', ALARM_WEBHOOK_URLS: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`, SPOOL_GROUP_COMMIT_MS: '5' } })
  for (const [id, district] of DEVICES) secrets[id] = (await registerDevice(gw.dataDir, id, 'manhole', district)).secret
  // Two lamp posts on feeder 7 and one on no feeder.
  for (const [id, group] of [['lp-f1', 'feeder-7'], ['lp-f2', 'feeder-7'], ['lp-x', undefined]] as const) {
    secrets[id] = (await addDevice(registryPath(gw.dataDir), { id, kind: 'lamp-post', district: 'north', ...(group === undefined ? {} : { group }) })).secret
  }
  const all = await registerCrew(gw.dataDir, 'crew-all')
  lateSecret = (await registerCrew(gw.dataDir, 'crew-late')).secret
  north = basic('crew-north', (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret)
  south = basic('crew-south', (await registerCrew(gw.dataDir, 'crew-south', ['south'])).secret)
  ops = basic('ops', (await addOperator(registryPath(gw.dataDir), 'ops')).secret)
  await gw.gateway.reloadRegistry()
  crewAll = await connectClient(gw.mqttUrl, { clientId: 'crew-all-phone', username: 'crew-all', password: all.secret })
  clients.push(crewAll)
  seen = await collect(crewAll, 'alarms/#')
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await gw?.close(true)
  await influx?.close()
  if (rulesDir !== undefined) await removeTempDir(rulesDir)
  await new Promise((resolve) => hookServer?.close(resolve))
})

function citygw (args: string[]) {
  return runCitygw(args, { DATA_DIR: gw.dataDir, NATS_URL: '' })
}

async function publish (id: string, reading: Record<string, unknown>): Promise<void> {
  const device = await connectDevice(gw.mqttUrl, id, secrets[id]!)
  clients.push(device)
  await device.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
}

async function api<T> (method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${gw.httpUrl}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: await res.json() as T }
}

async function openAlarmOf (deviceId: string, type = 'coverOpen'): Promise<Alarm | undefined> {
  const { body } = await api<{ alarms: Alarm[] }>('GET', '/api/alarms?state=open', ops)
  return body.alarms.find((a) => a.deviceId === deviceId && a.type === type)
}

async function runningWindow (id: string): Promise<void> {
  await eventually(() => api<{ windows: Window[] }>('GET', '/api/maintenance', ops), (r) => r.body.windows.some((w) => w.id === id && w.status === 'running'), { what: `window ${id} running in the gateway` })
}

function messagesOf (deviceId: string): { topic: string; retain: boolean }[] {
  return seen.messages.filter((m) => m.topic.split('/')[3] === deviceId)
}

/** A fresh crew connection's retained alarm messages for one device. */
async function retainedFor (deviceId: string): Promise<Record<string, unknown>[]> {
  const phone = await connectClient(gw.mqttUrl, { clientId: `late-${deviceId}-${Date.now()}`, username: 'crew-late', password: lateSecret })
  clients.push(phone)
  const got = await collect(phone, `alarms/+/+/${deviceId}/#`)
  await new Promise((resolve) => setTimeout(resolve, 300))
  return got.messages.filter((m) => m.retain).map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>)
}

describe('a window on one device (CLI)', () => {
  let window: Window

  it('records the alarm with the window id, in the API and in InfluxDB, and pushes nothing to crews', async () => {
    const added = await citygw(['maintenance', 'add', '--device', 'mh-1', '--from', 'now', '--to', '+1h', '--reason', 'replacing the cover', '--json'])
    expect(added.stderr).toBe('')
    expect(added.code).toBe(0)
    window = JSON.parse(added.stdout) as Window
    expect(window).toMatchObject({ scope: { kind: 'device', name: 'mh-1' }, reason: 'replacing the cover', createdBy: 'cli' })
    expect(Date.parse(window.to) - Date.parse(window.from)).toBe(3_600_000)
    await runningWindow(window.id)

    await publish('mh-1', { coverAngle: 120 })
    const alarm = await eventually(() => openAlarmOf('mh-1'), (a) => a !== undefined, { what: 'the mh-1 alarm in the API' })
    expect(alarm).toMatchObject({ state: 'active', maintenance: window.id })
    const points = await eventually(
      () => influx.query(`SELECT "maintenance", "change" FROM "alarms" WHERE "device_id" = 'mh-1'`, 'city'),
      (r) => (r[0]?.series?.[0]?.values.length ?? 0) >= 1,
      { what: 'the mh-1 alarms point' },
    )
    expect(points[0]?.series?.[0]?.values[0]?.slice(1)).toEqual([window.id, 'raised'])
    // The point is stored after the change went (or would have gone) to crews: nothing arrived.
    expect(messagesOf('mh-1')).toEqual([])
    expect(await retainedFor('mh-1')).toEqual([])
    expect(gw.logs().some((l) => l.msg === 'alarm raised' && l.deviceId === 'mh-1')).toBe(true)
  })

  it('`citygw maintenance list` shows it running; `end` delivers the open alarm to crews, retained', async () => {
    const listed = await citygw(['maintenance', 'list', '--json'])
    expect((JSON.parse(listed.stdout) as Window[]).map((w) => w.id)).toContain(window.id)
    const ended = await citygw(['maintenance', 'end', window.id])
    expect(ended.code).toBe(0)
    expect(ended.stdout).toContain(`maintenance window ${window.id} ended`)
    await seen.waitFor(1)
    await eventually(() => messagesOf('mh-1'), (m) => m.length >= 1, { what: 'the released mh-1 alarm' })
    const released = messagesOf('mh-1')
    expect(released.map((m) => m.topic)).toEqual(['alarms/north/manhole/mh-1/coverOpen'])
    const retained = await retainedFor('mh-1')
    expect(retained).toHaveLength(1)
    expect(retained[0]).toMatchObject({ state: 'active', deviceId: 'mh-1', type: 'coverOpen' })
    expect((await citygw(['maintenance', 'end', window.id])).code).toBe(1)
  })
})

describe('a window on a district (API, by its crew)', () => {
  it('holds back the district\'s alarms and not another district\'s (MQTT and the console\'s stream); ending it delivers them', async () => {
    const stream = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, ops)
    await stream.waitFor((e) => e.event === 'ready')
    const created = await api<Window>('POST', '/api/maintenance', north, { district: 'north', to: '+2h', reason: 'street works' })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ scope: { kind: 'district', name: 'north' }, createdBy: 'crew-north', status: 'running' })
    await runningWindow(created.body.id)

    await publish('mh-3', { coverAngle: 120 })
    await publish('mh-2', { coverAngle: 120 })
    await eventually(() => messagesOf('mh-2'), (m) => m.length >= 1, { what: 'the south alarm pushed as usual' })
    await eventually(() => hooks, (h) => h.includes('raised mh-2'), { what: 'the south alarm\'s webhook' })
    const held = await eventually(() => openAlarmOf('mh-3'), (a) => a !== undefined, { what: 'the mh-3 alarm in the API' })
    expect(held?.maintenance).toBe(created.body.id)
    expect((await openAlarmOf('mh-2'))?.maintenance).toBeUndefined()
    expect(messagesOf('mh-3')).toEqual([])
    expect(hooks.filter((h) => h.endsWith(' mh-3'))).toEqual([])
    await stream.waitFor((e) => e.event === 'alarm' && e.data.includes('"mh-2"'))
    expect(stream.events.filter((e) => e.data.includes('"mh-3"'))).toEqual([])

    const ended = await api<Window>('POST', `/api/maintenance/${created.body.id}/end`, north)
    expect(ended.status).toBe(200)
    expect(ended.body).toMatchObject({ status: 'ended', endedBy: 'crew-north' })
    await eventually(() => messagesOf('mh-3'), (m) => m.length >= 1, { what: 'the released mh-3 alarm' })
    expect((await retainedFor('mh-3'))[0]).toMatchObject({ state: 'active', deviceId: 'mh-3' })
    const released = await stream.waitFor((e) => e.event === 'alarm' && e.data.includes('"mh-3"'))
    expect(JSON.parse(released.data)).toMatchObject({ change: 'raised', alarm: { deviceId: 'mh-3', state: 'active', maintenance: created.body.id } })
    await stream.close()
    await eventually(() => hooks.filter((h) => h.endsWith(' mh-3')), (h) => h.length === 1, { what: 'the released alarm\'s webhook' })
    expect(hooks.filter((h) => h.endsWith(' mh-3'))).toEqual(['raised mh-3'])
    expect((await api('POST', `/api/maintenance/${created.body.id}/end`, north)).status).toBe(409)
  })
})

describe('a window on a device group (CLI)', () => {
  it('holds back the alarms of the group\'s devices only; its devices\' crews see it', async () => {
    const added = await citygw(['maintenance', 'add', '--group', 'feeder-7', '--to', '+1h', '--reason', 'feeder renewal', '--json'])
    expect(added.code).toBe(0)
    const window = JSON.parse(added.stdout) as Window
    expect(window.scope).toEqual({ kind: 'group', name: 'feeder-7' })
    await runningWindow(window.id)
    const lamp = { commandedLevel: 80, supplyVoltage: 230, activePower: 60, doorOpen: true }
    await publish('lp-f1', lamp)
    await publish('lp-x', lamp)
    await eventually(() => messagesOf('lp-x'), (m) => m.length >= 1, { what: 'the alarm of the lamp on no feeder' })
    const held = await eventually(() => openAlarmOf('lp-f1', 'doorOpen'), (a) => a !== undefined, { what: 'the lp-f1 alarm in the API' })
    expect(held?.maintenance).toBe(window.id)
    expect(messagesOf('lp-f1')).toEqual([])
    const seenByNorth = await api<{ windows: Window[] }>('GET', '/api/maintenance', north)
    expect(seenByNorth.body.windows.map((w) => w.id)).toContain(window.id)
    expect((await api('POST', `/api/maintenance/${window.id}/end`, north)).status).toBe(403)
    expect((await api('POST', `/api/maintenance/${window.id}/end`, ops)).status).toBe(200)
    await eventually(() => messagesOf('lp-f1'), (m) => m.length >= 1, { what: 'the released lp-f1 alarm' })
  })
})

describe('deviceOffline during a window', () => {
  it('is raised for a silent device outside the window, not for the covered one', async () => {
    const created = await api<Window>('POST', '/api/maintenance', ops, { device: 'mh-quiet', to: '+1h', reason: 'battery swap' })
    expect(created.status).toBe(201)
    await runningWindow(created.body.id)
    await publish('mh-quiet', { coverAngle: 1 })
    await publish('mh-loud', { coverAngle: 1 })
    await eventually(() => openAlarmOf('mh-loud', 'deviceOffline'), (a) => a !== undefined, { what: 'deviceOffline of the control device' })
    // Several more offline checks (every 100 ms) pass for the covered device.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(await openAlarmOf('mh-quiet', 'deviceOffline')).toBeUndefined()
    expect(messagesOf('mh-quiet')).toEqual([])
  })
})

describe('API permissions', () => {
  it('lets crews see and manage windows of their districts only', async () => {
    const northWindow = await api<Window>('POST', '/api/maintenance', ops, { device: 'mh-3', from: '+1h', to: '+2h', reason: 'planned' })
    expect(northWindow.status).toBe(201)
    expect(northWindow.body.status).toBe('upcoming')
    const group = await api<Window>('POST', '/api/maintenance', ops, { group: 'feeder-12', to: '+1h', reason: 'feeder' })
    expect(group.status).toBe(201)

    expect((await api('POST', '/api/maintenance', south, { district: 'north', to: '+1h', reason: 'x' })).status).toBe(403)
    expect((await api('POST', '/api/maintenance', south, { device: 'mh-1', to: '+1h', reason: 'x' })).status).toBe(404)
    expect((await api('POST', '/api/maintenance', south, { group: 'feeder-12', to: '+1h', reason: 'x' })).status).toBe(403)
    expect((await api('POST', '/api/maintenance', ops, { device: 'nope', to: '+1h', reason: 'x' })).status).toBe(404)
    expect((await api('POST', '/api/maintenance', ops, { device: 'mh-1', district: 'north', to: '+1h', reason: 'x' })).status).toBe(400)
    expect((await api('POST', '/api/maintenance', ops, { district: 'north', to: 'tomorrow', reason: 'x' })).status).toBe(400)
    expect((await api('POST', '/api/maintenance', ops, { district: 'north', to: '+1h', reason: 'x', extra: 1 })).status).toBe(400)
    expect((await api('POST', '/api/maintenance', ops, { district: 'north', from: '2020-01-01T00:00:00Z', to: '2020-01-01T01:00:00Z', reason: 'x' })).status).toBe(400)
    expect((await api('POST', '/api/maintenance', {}, { district: 'north', to: '+1h', reason: 'x' })).status).toBe(401)

    const southList = await api<{ windows: Window[] }>('GET', '/api/maintenance', south)
    expect(southList.status).toBe(200)
    expect(southList.body.windows).toEqual([])
    expect((await api('POST', `/api/maintenance/${northWindow.body.id}/end`, south)).status).toBe(404)
    const northList = await api<{ windows: Window[] }>('GET', '/api/maintenance?status=upcoming', north)
    expect(northList.body.windows.map((w) => w.id)).toEqual([northWindow.body.id])
    const all = await api<{ windows: Window[] }>('GET', '/api/maintenance', ops)
    expect(all.body.windows.map((w) => w.id)).toEqual(expect.arrayContaining([northWindow.body.id, group.body.id]))
    expect(all.body.windows[0]?.status).toBe('running')
  })

  it('`citygw maintenance add` refuses a missing or double scope, bad times and a bad name, naming the option', async () => {
    const both = await citygw(['maintenance', 'add', '--device', 'mh-1', '--district', 'north', '--to', '+1h', '--reason', 'x'])
    expect(both.code).not.toBe(0)
    expect(both.stderr).toContain('exactly one of --device, --district, --group')
    const badTo = await citygw(['maintenance', 'add', '--district', 'north', '--to', 'tomorrow', '--reason', 'x'])
    expect(badTo.stderr).toContain('--to')
    const over = await citygw(['maintenance', 'add', '--district', 'north', '--from', '2020-01-01T00:00:00Z', '--to', '+1h', '--reason', 'x'])
    expect(over.stderr).toContain('already be over')
    const badName = await citygw(['maintenance', 'add', '--group', 'feeder 12', '--to', '+1h', '--reason', 'x'])
    expect(badName.stderr).toContain('--group')
    expect((await citygw(['maintenance', 'end', 'nope'])).stderr).toContain('not a maintenance id')
  })

  it('describes the routes in /api/openapi.json', async () => {
    const doc = await (await fetch(`${gw.httpUrl}/api/openapi.json`)).json() as { paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/maintenance', '/api/maintenance/{id}/end']))
    expect(doc.components.schemas.MaintenanceWindow).toBeDefined()
  })
})

describe('across a gateway restart', () => {
  it('keeps holding back a covered alarm, and puts back one whose window ended while the gateway was down', async () => {
    const held = await api<Window>('POST', '/api/maintenance', ops, { device: 'mh-r1', to: '+1h', reason: 'long works' })
    const short = await api<Window>('POST', '/api/maintenance', ops, { device: 'mh-r2', to: '+2s', reason: 'short works' })
    await runningWindow(held.body.id)
    await runningWindow(short.body.id)
    await publish('mh-r1', { coverAngle: 120 })
    await publish('mh-r2', { coverAngle: 120 })
    await eventually(async () => [await openAlarmOf('mh-r1'), await openAlarmOf('mh-r2')], (a) => a.every((x) => x?.maintenance !== undefined), { what: 'both alarms recorded under maintenance' })

    const dataDir = gw.dataDir
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
    await gw.close()
    // The short window ends while the gateway is down.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(short.body.to) - Date.now() + 100)))
    gw = await startTestGateway({ dataDir, env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', ALARM_OFFLINE_CHECK_MS: '100' } })
    expect(await retainedFor('mh-r1')).toEqual([])
    expect((await retainedFor('mh-r2'))[0]).toMatchObject({ deviceId: 'mh-r2', state: 'active' })

    expect((await citygw(['maintenance', 'end', held.body.id])).code).toBe(0)
    await eventually(() => retainedFor('mh-r1'), (r) => r.length === 1, { what: 'mh-r1 released after the restart' })
  })
})
