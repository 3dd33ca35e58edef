// Alarm history over HTTP with a real gateway, a real InfluxDB 1.x and MQTT.js devices: a water
// pipe's low pressure is raised, acknowledged with a note, escalated minor → critical and cleared;
// the `alarms` points carry the alarm id, the change, who acknowledged (sealed) and the seconds to
// acknowledge and clear; after a restart on the same DATA_DIR (memory gone) the history and the
// timeline still tell it all. Crews see their districts only; per-device history; InfluxDB stopped
// or unset gives a partial answer from memory, never a 5xx; bad input gets 400.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import type { AlarmHistory, AlarmTimeline, HistoryEntry } from '../../broker/api/types.ts'
import { basic, getJson } from '../helpers/api-client.ts'
import { registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { connectClient, connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

const INFLUX_ENV = (url: string): Record<string, string> => ({ INFLUX_URL: url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city', INFLUX_FLUSH_MS: '50', INFLUX_TIMEOUT_MS: '2000' })

interface Accounts { north: Record<string, string>; south: Record<string, string>; ops: Record<string, string> }
const secrets: Record<string, string> = {}

/** Devices and accounts of both tests: two devices in north (one with a location), one in south. */
async function provision (gw: TestGateway): Promise<Accounts> {
  secrets['wp-n'] = (await addDevice(registryPath(gw.dataDir), { id: 'wp-n', kind: 'water-pipe', district: 'north', lat: 52.37, lon: 4.89 })).secret
  secrets['mh-n'] = (await registerDevice(gw.dataDir, 'mh-n', 'manhole', 'north')).secret
  secrets['wp-old'] = (await registerDevice(gw.dataDir, 'wp-old', 'water-pipe', 'north')).secret
  secrets['mh-s'] = (await registerDevice(gw.dataDir, 'mh-s', 'manhole', 'south')).secret
  secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
  secrets['crew-south'] = (await registerCrew(gw.dataDir, 'crew-south', ['south'])).secret
  const ops = (await addOperator(registryPath(gw.dataDir), 'ops')).secret
  await gw.gateway.reloadRegistry()
  return { north: basic('crew-north', secrets['crew-north']), south: basic('crew-south', secrets['crew-south']), ops: basic('ops', ops) }
}

function client (gw: TestGateway, clients: MqttClient[]) {
  return async function publish (id: string, reading: Record<string, unknown>): Promise<void> {
    let device = clients.find((c) => c.options.clientId === id)
    if (device === undefined) {
      device = await connectDevice(gw.mqttUrl, id, secrets[id]!)
      clients.push(device)
    }
    await device.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
  }
}

async function history (gw: TestGateway, query: string, headers: Record<string, string>) {
  const res = await getJson(`${gw.httpUrl}/api/alarms/history${query}`, headers)
  return { status: res.status, body: res.body as unknown as AlarmHistory & { message?: string } }
}

async function timeline (gw: TestGateway, id: string, headers: Record<string, string>) {
  const res = await getJson(`${gw.httpUrl}/api/alarms/${id}/timeline`, headers)
  return { status: res.status, body: res.body as unknown as AlarmTimeline & { message?: string } }
}

async function openAlarmOf (gw: TestGateway, deviceId: string, headers: Record<string, string>, state?: string): Promise<{ id: string; state: string; severity: string }> {
  return eventually(async () => {
    const { body } = await getJson(`${gw.httpUrl}/api/alarms`, headers)
    return (body.alarms as { id: string; deviceId: string; state: string; severity: string }[]).find((a) => a.deviceId === deviceId && (state === undefined || a.state === state))
  }, (a) => a !== undefined, { what: `an alarm of ${deviceId}${state === undefined ? '' : ` ${state}`}` }) as Promise<{ id: string; state: string; severity: string }>
}

describe('alarm history with InfluxDB', () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let accounts: Accounts
  const clients: MqttClient[] = []
  let pipeAlarm: string
  let coverAlarm: string
  let southAlarm: string
  let oldAlarm: string
  /** Wall and reading times of the pipe alarm's lifecycle, ms. */
  let raisedAtMs: number
  let ackedAtMs: number
  let clearedAtMs: number

  beforeAll(async () => {
    influx = await startInfluxDb1({ databases: ['city'] })
    gw = await startTestGateway({ env: INFLUX_ENV(influx.url) })
    accounts = await provision(gw)
    const publish = client(gw, clients)
    // Reading times: the raise an hour ago and the pressure below critical 50 min ago (a drop
    // spread over more than 5 min is no burst), the acknowledgement now (wall clock); the next
    // reading, after the acknowledgement, has held below critical long enough to escalate; then
    // the clear (the gateway takes readings at most 5 min ahead of its clock).
    raisedAtMs = Date.now() - 3_600_000
    await publish('wp-n', { pressure: 200, ts: raisedAtMs })
    await publish('wp-n', { pressure: 130, ts: raisedAtMs + 600_000 })
    pipeAlarm = (await openAlarmOf(gw, 'wp-n', accounts.north)).id
    const ack = await fetch(`${gw.httpUrl}/api/alarms/${pipeAlarm}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', ...accounts.north }, body: JSON.stringify({ note: 'valve crew on the way' }) })
    expect(ack.status).toBe(200)
    ackedAtMs = Date.parse((await ack.json() as { ackedAt: string }).ackedAt)
    await publish('wp-n', { pressure: 130, ts: Date.now() + 5_000 })
    await openAlarmOf(gw, 'wp-n', accounts.north, 'active')
    clearedAtMs = Date.now() + 6_000
    await publish('wp-n', { pressure: 270, ts: clearedAtMs })
    // A second alarm in north (per-device history), acknowledged over MQTT, and one in south.
    await publish('mh-n', { coverAngle: 120 })
    coverAlarm = (await openAlarmOf(gw, 'mh-n', accounts.north)).id
    const crew = await connectClient(gw.mqttUrl, { clientId: 'phone-n', username: 'crew-north', password: secrets['crew-north']! })
    clients.push(crew)
    await crew.publishAsync('alarms/north/manhole/mh-n/coverOpen/ack', JSON.stringify({ note: 'cover seen' }), { qos: 1 })
    await openAlarmOf(gw, 'mh-n', accounts.north, 'acknowledged')
    await publish('mh-s', { coverAngle: 120 })
    southAlarm = (await openAlarmOf(gw, 'mh-s', accounts.south)).id
    // An alarm raised and escalated two hours ago, cleared now: only its clear lies in the last hour.
    const twoHoursAgo = Date.now() - 7_200_000
    await publish('wp-old', { pressure: 200, ts: twoHoursAgo })
    await publish('wp-old', { pressure: 130, ts: twoHoursAgo + 600_000 })
    await publish('wp-old', { pressure: 130, ts: twoHoursAgo + 1_200_000 })
    oldAlarm = (await openAlarmOf(gw, 'wp-old', accounts.north)).id
    await publish('wp-old', { pressure: 270 })
    await eventually(() => influx.count('city', 'alarms', 'alarm_id'), (n) => n >= 10, { what: 'all 10 alarm points in InfluxDB' })
  }, 60_000)

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
    await influx?.close()
  })

  it('writes every change as a point with the alarm id, the change, who acknowledged and the seconds to acknowledge and to clear', async () => {
    const [result] = await influx.query(`SELECT * FROM "alarms" WHERE "alarm_id" = '${pipeAlarm}' ORDER BY time ASC`, 'city')
    const series = result?.series?.[0]
    const rows = (series?.values ?? []).map((row) => Object.fromEntries(series!.columns.map((c, i) => [c, row[i]])))
    expect(rows.map((r) => `${String(r.change)}:${String(r.severity)}:${String(r.state)}`)).toEqual([
      'raised:minor:active', 'acknowledged:minor:acknowledged', 'escalated:critical:active', 'cleared:critical:cleared',
    ])
    // Who acknowledged and the note are sealed with the data key (README "Personal data at rest").
    expect(rows[1]).toMatchObject({ acked_by: expect.stringMatching(/^enc1:/) as string, note: expect.stringMatching(/^enc1:/) as string, ack_sec: (ackedAtMs - raisedAtMs) / 1000 })
    expect(rows[3]).toMatchObject({ clear_sec: (clearedAtMs - raisedAtMs) / 1000, acked_by: null, ack_sec: null })
    expect(rows[0]).toMatchObject({ device_id: 'wp-n', district: 'north', kind: 'water-pipe', type: 'lowPressure', acked_by: null, note: null, ack_sec: null, clear_sec: null })
    const [fieldKeys] = await influx.query('SHOW FIELD KEYS FROM "alarms"', 'city')
    expect(Object.fromEntries(fieldKeys!.series![0]!.values.map(([key, type]) => [key, type]))).toEqual({
      ack_sec: 'float', acked_by: 'string', alarm_id: 'string', change: 'string', clear_sec: 'float', message: 'string', note: 'string', state: 'string', threshold: 'float', value: 'float',
    })
  })

  it('tells who acknowledged, when, and how long it took, after a restart on the same DATA_DIR', async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true))) // they would try the old ports
    await gw.close()
    gw = await startTestGateway({ dataDir: gw.dataDir, env: INFLUX_ENV(influx.url) })
    const { status, body } = await history(gw, '', accounts.north)
    expect(status).toBe(200)
    expect(body.partial).toBeUndefined()
    expect(body.warning).toBeUndefined()
    // Newest raise first: the manhole (raised at the wall clock) before the pipe (raised an hour back).
    expect(body.alarms.map((a) => a.id)).toEqual([coverAlarm, pipeAlarm, oldAlarm])
    expect(body.alarms[1]).toEqual({
      id: pipeAlarm, type: 'lowPressure', severity: 'critical', deviceId: 'wp-n', kind: 'water-pipe', district: 'north',
      location: { lat: 52.37, lon: 4.89 }, message: expect.stringMatching(/./) as string, state: 'cleared',
      raisedAt: new Date(raisedAtMs).toISOString(), ackedAt: new Date(ackedAtMs).toISOString(), ackedBy: 'crew-north', ackNote: 'valve crew on the way',
      clearedAt: new Date(clearedAtMs).toISOString(), timeToAckSec: (ackedAtMs - raisedAtMs) / 1000, timeToClearSec: (clearedAtMs - raisedAtMs) / 1000,
      escalations: 1,
    } satisfies HistoryEntry)
    expect(body.alarms[0]).toMatchObject({ id: coverAlarm, state: 'acknowledged', ackedBy: 'crew-north', ackNote: 'cover seen', escalations: 0 })
    expect(body.alarms[0]?.clearedAt).toBeUndefined()

    const pipe = await timeline(gw, pipeAlarm, accounts.north)
    expect(pipe.status).toBe(200)
    expect(pipe.body.alarm).toEqual(body.alarms[1])
    expect(pipe.body.events.map((e) => `${e.change}:${e.severity}:${e.state}`)).toEqual([
      'raised:minor:active', 'acknowledged:minor:acknowledged', 'escalated:critical:active', 'cleared:critical:cleared',
    ])
    expect(pipe.body.events[1]).toMatchObject({ at: new Date(ackedAtMs).toISOString(), by: 'crew-north', note: 'valve crew on the way' })
    expect(pipe.body.events[0]).toMatchObject({ value: 200, threshold: 241 })
    expect(pipe.body.events[2]).toMatchObject({ value: 130, threshold: 138 })
    expect(pipe.body.events.map((e) => e.at)).toEqual([...pipe.body.events.map((e) => e.at)].sort())
  })

  it('shows a crew its own districts only: another district is 403, another district\'s alarm or device 404', async () => {
    const south = await history(gw, '', accounts.south)
    expect(south.body.alarms.map((a) => a.id)).toEqual([southAlarm])
    expect((await history(gw, '?district=north', accounts.south)).status).toBe(403)
    expect((await history(gw, '?deviceId=wp-n', accounts.south)).status).toBe(404)
    const other = await timeline(gw, pipeAlarm, accounts.south)
    expect(other.status).toBe(404)
    expect(other.body.message).toBe(`no alarm ${pipeAlarm}`)
    expect((await timeline(gw, 'no-such-alarm', accounts.north)).status).toBe(404)
    // Operators see every district.
    const all = await history(gw, '', accounts.ops)
    expect(all.body.alarms.map((a) => a.id).sort()).toEqual([pipeAlarm, coverAlarm, southAlarm, oldAlarm].sort())
    expect((await history(gw, '?district=south', accounts.ops)).body.alarms.map((a) => a.id)).toEqual([southAlarm])
  })

  it('gives one device\'s history with ?deviceId, and honours limit', async () => {
    expect((await history(gw, '?deviceId=wp-n', accounts.north)).body.alarms.map((a) => a.id)).toEqual([pipeAlarm])
    expect((await history(gw, '?deviceId=mh-n', accounts.north)).body.alarms.map((a) => a.id)).toEqual([coverAlarm])
    expect((await history(gw, '?deviceId=gone-device', accounts.north)).body.alarms).toEqual([])
    expect((await history(gw, '?limit=1', accounts.north)).body.alarms.map((a) => a.id)).toEqual([coverAlarm])
  })

  it('tells the raise and escalations of an alarm raised before the window and changed inside it', async () => {
    const { body } = await history(gw, '?hours=1&deviceId=wp-old', accounts.north)
    expect(body.alarms).toHaveLength(1)
    expect(body.alarms[0]).toMatchObject({ id: oldAlarm, severity: 'critical', state: 'cleared', escalations: 1 })
    expect(body.alarms[0]!.timeToClearSec).toBeGreaterThan(7_000)
    // The other pipe alarm, raised an hour ago, changed inside the window too.
    expect((await history(gw, '?hours=1&deviceId=wp-n', accounts.north)).body.alarms.map((a) => a.id)).toEqual([pipeAlarm])
  })

  it('refuses out-of-range or unknown parameters with 400', async () => {
    for (const query of ['?hours=0', '?hours=721', '?hours=abc', '?limit=0', '?limit=1001', '?district=a%20b', '?deviceId=x%27y', '?days=2']) {
      const res = await history(gw, query, accounts.ops)
      expect(res.status, query).toBe(400)
      expect(res.body.message, query).toMatch(/querystring/)
    }
    expect((await history(gw, '?hours=720&limit=1000', accounts.ops)).status).toBe(200)
    expect((await timeline(gw, "x'y", accounts.ops)).status).toBe(400)
    expect((await getJson(`${gw.httpUrl}/api/alarms/history`)).status).toBe(401)
  })

  it('is described in /api/openapi.json', async () => {
    const { body } = await getJson(`${gw.httpUrl}/api/openapi.json`)
    const paths = body.paths as Record<string, unknown>
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/api/alarms/history', '/api/alarms/{id}/timeline']))
    expect(Object.keys((body.components as { schemas: Record<string, unknown> }).schemas)).toEqual(expect.arrayContaining(['HistoryEntry', 'TimelineEvent']))
  })

  it('answers from memory with partial and a warning while InfluxDB is stopped, never a 5xx', async () => {
    await influx.stop()
    try {
      // A change InfluxDB cannot have: it is in the spool and in memory only.
      const publish = client(gw, clients)
      await publish('mh-n', { coverAngle: 0, ts: Date.now() })
      await publish('mh-n', { coverAngle: 0, ts: Date.now() + 61_000 })
      await eventually(async () => (await getJson(`${gw.httpUrl}/api/alarms?state=cleared`, accounts.north)).body.alarms as unknown[], (a) => a.length === 1, { what: 'the cover alarm cleared' })
      const { status, body } = await history(gw, '', accounts.north)
      expect(status).toBe(200)
      expect(body.partial).toBe(true)
      expect(body.warning).toMatch(/^InfluxDB did not answer .*only what this gateway holds in memory/)
      // The pipe alarm cleared before the restart is not in memory; the cover alarm is, cleared.
      expect(body.alarms.map((a) => a.id)).toEqual([coverAlarm])
      expect(body.alarms[0]).toMatchObject({ state: 'cleared', ackedBy: 'crew-north', ackNote: 'cover seen' })
      expect(body.alarms[0]?.timeToClearSec).toBeGreaterThan(0)
      const cover = await timeline(gw, coverAlarm, accounts.north)
      expect(cover.status).toBe(200)
      expect(cover.body.partial).toBe(true)
      expect(cover.body.events.map((e) => e.change)).toEqual(['raised', 'acknowledged', 'cleared'])
      const pipe = await timeline(gw, pipeAlarm, accounts.north)
      expect(pipe.status).toBe(404)
      expect(pipe.body.message).toMatch(/InfluxDB did not answer/)
    } finally {
      await influx.start()
    }
    // Once InfluxDB is back, the spooled clear arrives and the answer is whole again.
    const whole = await eventually(() => history(gw, '?deviceId=mh-n', accounts.north), (r) => r.body.partial === undefined && r.body.alarms[0]?.state === 'cleared', { timeoutMs: 30_000, what: 'a whole answer' })
    expect(whole.body.alarms[0]).toMatchObject({ id: coverAlarm, ackedBy: 'crew-north', escalations: 0 })
  }, 60_000)
})

describe('alarm history without InfluxDB', () => {
  let gw: TestGateway
  let accounts: Accounts
  const clients: MqttClient[] = []

  beforeAll(async () => {
    gw = await startTestGateway()
    accounts = await provision(gw)
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
  })

  it('comes from memory, marked partial, with the whole timeline of changes since start', async () => {
    const publish = client(gw, clients)
    const now = Date.now()
    await publish('wp-n', { pressure: 200, ts: now - 60_000 })
    const { id } = await openAlarmOf(gw, 'wp-n', accounts.north)
    const ack = await fetch(`${gw.httpUrl}/api/alarms/${id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', ...accounts.north }, body: JSON.stringify({ note: 'looking' }) })
    expect(ack.status).toBe(200)
    await publish('wp-n', { pressure: 270, ts: now + 1_000 })
    await openAlarmOf(gw, 'wp-n', accounts.north, 'cleared')

    const { status, body } = await history(gw, '', accounts.north)
    expect(status).toBe(200)
    expect(body).toMatchObject({ partial: true, warning: expect.stringMatching(/^INFLUX_URL is not set/) as string })
    expect(body.alarms).toHaveLength(1)
    expect(body.alarms[0]).toMatchObject({ id, state: 'cleared', ackedBy: 'crew-north', ackNote: 'looking', timeToClearSec: 61, location: { lat: 52.37, lon: 4.89 } })
    const events = await timeline(gw, id, accounts.north)
    expect(events.body.partial).toBe(true)
    expect(events.body.events.map((e) => `${e.change}:${e.message === '' ? 'bare' : 'told'}`)).toEqual(['raised:told', 'acknowledged:told', 'cleared:told'])
    expect((await history(gw, '', accounts.south)).body.alarms).toEqual([])
    expect((await timeline(gw, id, accounts.south)).status).toBe(404)
  })
})
