// Personal data at rest with a real gateway process, a real InfluxDB 1.x, MQTT.js clients and the
// `citygw` CLI: a crew signs in to the API, plans and ends a maintenance window, and acknowledges
// with a note; alarms.json, sessions.json, maintenance.json and the InfluxDB point (raw InfluxQL)
// hold only `enc1:` values, never the name or the note, while the API (history, the console's
// alarm list, maintenance windows) shows them in clear. Without the key, or with a key
// file others may read, the gateway refuses to start; rotate seals the files again with a new key
// and the old points still read.
import { chmod, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCitygw } from '../helpers/citygw.ts'
import { registerCrew, registerDevice, spawnGatewayProcess, type GatewayProcess } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { connectClient, connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const NOTE = 'Jan de Vries lifted the cover back'
const CREW = 'crew-north'

interface AlarmView { id: string; deviceId: string; state: string; ackedBy?: string; ackNote?: string }

async function stop (gw: GatewayProcess | undefined): Promise<void> {
  if (gw === undefined || gw.child.exitCode !== null) return
  gw.child.kill('SIGTERM')
  await gw.exited
}

async function alarmPoints (influx: InfluxDb1Server): Promise<Record<string, unknown>[]> {
  const [result] = await influx.query('SELECT "alarm_id", "change", "acked_by", "note" FROM "alarms" WHERE "change" = \'acknowledged\'', 'city')
  const series = result?.series?.[0]
  return (series?.values ?? []).map((row) => Object.fromEntries(series!.columns.map((c, i) => [c, row[i]])))
}

describe('personal data at rest', () => {
  let influx: InfluxDb1Server
  let root: string
  let dataDir: string
  let keyFile: string
  let firstKeyId: string
  let env: Record<string, string>
  let gw: GatewayProcess | undefined
  let crewSecret: string
  let cookie: Record<string, string>
  let alarmId: string
  const clients: MqttClient[] = []

  async function signedInAlarms (): Promise<AlarmView[]> {
    const res = await fetch(`${gw!.httpUrl}/api/alarms`, { headers: cookie })
    expect(res.status).toBe(200)
    return ((await res.json()) as { alarms: AlarmView[] }).alarms
  }

  async function historyEntry (): Promise<AlarmView | undefined> {
    const res = await fetch(`${gw!.httpUrl}/api/alarms/history`, { headers: cookie })
    expect(res.status).toBe(200)
    return ((await res.json()) as { alarms: AlarmView[] }).alarms.find((a) => a.id === alarmId)
  }

  beforeAll(async () => {
    influx = await startInfluxDb1({ databases: ['city'] })
    root = await makeTempDir('citygw-key-')
    dataDir = join(root, 'data')
    keyFile = join(root, 'secrets', 'data.key')
    const created = await runCitygw(['key', 'create', '--file', keyFile, '--json'], { DATA_DIR: dataDir })
    expect(created.code, created.stderr).toBe(0)
    firstKeyId = (JSON.parse(created.stdout) as { keyId: string }).keyId
    env = { DATA_DIR: dataDir, DATA_KEY_FILE: keyFile, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city', INFLUX_FLUSH_MS: '50' }
    const device = await registerDevice(dataDir, 'mh-1', 'manhole', 'north')
    crewSecret = (await registerCrew(dataDir, CREW, ['north'])).secret
    gw = await spawnGatewayProcess(env)

    const res = await fetch(`${gw.httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: CREW, secret: crewSecret }) })
    expect(res.status).toBe(200)
    cookie = { cookie: res.headers.get('set-cookie')!.split(';')[0]! }
    // A maintenance window the crew plans for tomorrow and ends again: who added and who ended it.
    const planned = await fetch(`${gw.httpUrl}/api/maintenance`, { method: 'POST', headers: { 'content-type': 'application/json', ...cookie }, body: JSON.stringify({ device: 'mh-1', from: '+1d', to: '+2d', reason: 'new cover' }) })
    expect(planned.status).toBe(201)
    const windowId = ((await planned.json()) as { id: string }).id
    expect((await fetch(`${gw.httpUrl}/api/maintenance/${windowId}/end`, { method: 'POST', headers: cookie })).status).toBe(200)

    const sensor = await connectDevice(gw.mqttUrl, 'mh-1', device.secret)
    clients.push(sensor)
    await sensor.publishAsync('devices/mh-1/telemetry', JSON.stringify({ coverAngle: 120 }), { qos: 1 })
    alarmId = (await eventually(signedInAlarms, (alarms) => alarms.some((a) => a.deviceId === 'mh-1'), { what: 'the cover alarm' })).find((a) => a.deviceId === 'mh-1')!.id
    const phone = await connectClient(gw.mqttUrl, { clientId: 'phone-1', username: CREW, password: crewSecret })
    clients.push(phone)
    await phone.publishAsync('alarms/north/manhole/mh-1/coverOpen/ack', JSON.stringify({ note: NOTE }), { qos: 1 })
    await eventually(signedInAlarms, (alarms) => alarms.some((a) => a.id === alarmId && a.state === 'acknowledged'), { what: 'the acknowledgement' })
    await eventually(() => alarmPoints(influx), (rows) => rows.length === 1, { what: 'the acknowledged point in InfluxDB' })
    await eventually(() => readFile(join(dataDir, 'alarms.json'), 'utf8'), (text) => text.includes('"acknowledged"'), { what: 'alarms.json with the acknowledgement' })
  }, 60_000)

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await stop(gw)
    await influx?.close()
    if (root !== undefined) await removeTempDir(root)
  })

  it('keeps no name or note in clear in alarms.json, sessions.json, maintenance.json or the InfluxDB point', async () => {
    const sealed = new RegExp(`^enc1:${firstKeyId}:[A-Za-z0-9_-]+$`)
    const alarmsFile = await readFile(join(dataDir, 'alarms.json'), 'utf8')
    expect(alarmsFile).not.toContain(CREW)
    expect(alarmsFile).not.toContain('Jan de Vries')
    const alarm = (JSON.parse(alarmsFile) as { alarms: { alarm: AlarmView }[] }).alarms[0]!.alarm
    expect(alarm.ackedBy).toMatch(sealed)
    expect(alarm.ackNote).toMatch(sealed)

    const sessionsFile = await eventually(() => readFile(join(dataDir, 'sessions.json'), 'utf8'), (text) => text.includes('"sessions"'), { what: 'sessions.json' })
    expect(sessionsFile).not.toContain(CREW)
    const [session] = (JSON.parse(sessionsFile) as { sessions: { name: string; role: string }[] }).sessions
    expect(session).toMatchObject({ role: 'crew', name: expect.stringMatching(sealed) as string })

    const maintenanceFile = await readFile(join(dataDir, 'maintenance.json'), 'utf8')
    expect(maintenanceFile).not.toContain(CREW)
    expect((JSON.parse(maintenanceFile) as { windows: { createdBy: string; endedBy: string }[] }).windows[0]).toMatchObject({ createdBy: expect.stringMatching(sealed) as string, endedBy: expect.stringMatching(sealed) as string })

    const [point] = await alarmPoints(influx)
    expect(point).toMatchObject({ alarm_id: alarmId, acked_by: expect.stringMatching(sealed) as string, note: expect.stringMatching(sealed) as string })
    expect(JSON.stringify(point)).not.toContain(CREW)
  })

  it('shows who acknowledged and the note in clear over the API (console list and history)', async () => {
    expect((await signedInAlarms()).find((a) => a.id === alarmId)).toMatchObject({ ackedBy: CREW, ackNote: NOTE })
    expect(await historyEntry()).toMatchObject({ ackedBy: CREW, ackNote: NOTE })
    const timeline = await fetch(`${gw!.httpUrl}/api/alarms/${alarmId}/timeline`, { headers: cookie })
    const events = ((await timeline.json()) as { events: { change: string; by?: string; note?: string }[] }).events
    expect(events.find((e) => e.change === 'acknowledged')).toMatchObject({ by: CREW, note: NOTE })
  })

  it('refuses to rotate while the gateway runs', async () => {
    const rotate = await runCitygw(['key', 'rotate', '--file', keyFile], { DATA_DIR: dataDir })
    expect(rotate.code).not.toBe(0)
    expect(rotate.stderr).toContain('CSG_DATA_DIR_LOCKED')
  })

  it('refuses to start without the key, or with a key file others may read', async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
    await stop(gw)
    gw = undefined
    const withoutKey = await runCitygw(['start'], { ...env, DATA_KEY_FILE: undefined, MQTT_PORT: '0', HTTP_PORT: '0' })
    expect(withoutKey.code).not.toBe(0)
    expect(withoutKey.stderr).toContain('CSG_DATA_KEY_MISSING')
    expect(withoutKey.stderr).toContain(firstKeyId)
    // It did not make itself a key in DATA_DIR that would then seal new data with another key.
    await expect(readFile(join(dataDir, 'data.key'))).rejects.toThrow(/ENOENT/)

    await chmod(keyFile, 0o644)
    const readable = await runCitygw(['start'], { ...env, MQTT_PORT: '0', HTTP_PORT: '0' })
    await chmod(keyFile, 0o600)
    expect(readable.code).not.toBe(0)
    expect(readable.stderr).toContain('CSG_DATA_KEY_INVALID')
    expect(readable.stderr).toContain('0644')

    const elsewhere = join(root, 'other.key')
    expect((await runCitygw(['key', 'create', '--file', elsewhere], { DATA_DIR: dataDir })).code).toBe(0)
    const wrongKey = await runCitygw(['start'], { ...env, DATA_KEY_FILE: elsewhere, MQTT_PORT: '0', HTTP_PORT: '0' })
    expect(wrongKey.code).not.toBe(0)
    expect(wrongKey.stderr).toContain('CSG_DATA_KEY_MISSING')
    await rm(elsewhere)
  })

  it('rotate seals the files again with a new key; old points still read, the session still signs in', async () => {
    const rotate = await runCitygw(['key', 'rotate', '--file', keyFile, '--json'], { DATA_DIR: dataDir })
    expect(rotate.code, rotate.stderr).toBe(0)
    const outcome = JSON.parse(rotate.stdout) as { keyId: string; previousKeyId: string; files: { alarms: number; sessions: number; maintenance: number } }
    expect(outcome).toMatchObject({ previousKeyId: firstKeyId, files: { alarms: 1, sessions: 1, maintenance: 1 } })
    expect(outcome.keyId).not.toBe(firstKeyId)
    const keys = JSON.parse(await readFile(keyFile, 'utf8')) as { current: string; keys: { id: string }[] }
    expect(keys.current).toBe(outcome.keyId)
    expect(keys.keys.map((k) => k.id)).toEqual([firstKeyId, outcome.keyId])

    for (const name of ['alarms.json', 'sessions.json', 'maintenance.json']) {
      const text = await readFile(join(dataDir, name), 'utf8')
      expect(text).toContain(`enc1:${outcome.keyId}:`)
      expect(text).not.toContain(`enc1:${firstKeyId}:`)
      expect(text).not.toContain(CREW)
    }
    const [point] = await alarmPoints(influx)
    expect(point?.acked_by).toMatch(new RegExp(`^enc1:${firstKeyId}:`))

    gw = await spawnGatewayProcess(env)
    // The session cookie from before the rotation: its record opened with the new key.
    expect((await signedInAlarms()).find((a) => a.id === alarmId)).toMatchObject({ ackedBy: CREW, ackNote: NOTE })
    expect(await historyEntry()).toMatchObject({ ackedBy: CREW, ackNote: NOTE })
    const windows = await fetch(`${gw.httpUrl}/api/maintenance?status=ended`, { headers: cookie })
    expect(((await windows.json()) as { windows: unknown[] }).windows).toEqual([expect.objectContaining({ createdBy: CREW, endedBy: CREW })])
  })
})
