// Incidents instead of alarm storms, through the real gateway, InfluxDB 1.x, an SMTP server
// (aiosmtpd) and MQTT.js devices and crews: 20 lamp posts of one feeder lose supply within a
// minute → one incident on incidents/north/{id} (retained, updates coalesced), 20 recorded member
// alarms (API and `alarms` points), at most N−1 = 4 single alarms to crews, one incident mail;
// acknowledging the incident over MQTT acknowledges every member; a crew of another district sees
// nothing and may not acknowledge; when every member has cleared the incident closes and its
// retained message is gone. Flapping: a door switch that opens and closes five times within the
// rules file's short window stays open with `flapping: true`, crews get nothing more, and it clears
// once it has stayed closed for the window; the switch to flapping and back are `alarms` points of
// their own (change `flapping`, `unflapping`) with a log line each.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { collect, connectClient, createDevicePublisher, subscribeCodes, type DevicePublisher } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { startSmtpServer, type SmtpServer } from '../helpers/smtp.ts'
import { eventually } from '../helpers/wait.ts'

const RULES = `
incidents:
  minDevices: 5
  windowSec: 60
flapping:
  raises: 4
  withinSec: 2
mail:
  default:
    major: [duty@city.example]
`
const LAMPS = Array.from({ length: 20 }, (_, i) => `lp-f12-${String(i + 1).padStart(2, '0')}`)
const DARK = { commandedLevel: 0, supplyVoltage: 0, activePower: 0 }
const LIT = { commandedLevel: 0, supplyVoltage: 231, activePower: 0 }

interface Alarm { id: string; deviceId: string; type: string; state: string; ackedBy?: string; ackNote?: string; incident?: string; flapping?: boolean }
interface Incident { id: string; type: string; group: string; district: string; severity: string; state: string; members: { deviceId: string; alarmId: string }[]; ackedBy?: string; closedAt?: string }

describe('incidents instead of alarm storms', () => {
  let influx: InfluxDb1Server
  let smtp: SmtpServer
  let gw: TestGateway
  let rulesDir: string
  let devices: DevicePublisher
  const clients: MqttClient[] = []
  const secrets: Record<string, string> = {}
  let north: Record<string, string>
  let northSecret: string
  let south: Record<string, string>
  let northPhone: MqttClient
  let northAlarms: Awaited<ReturnType<typeof collect>>
  let northIncidents: Awaited<ReturnType<typeof collect>>
  let southSeen: Awaited<ReturnType<typeof collect>>

  async function api<T> (method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${gw.httpUrl}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: await res.json() as T }
  }
  async function supplyAlarms (): Promise<Alarm[]> {
    return (await api<{ alarms: Alarm[] }>('GET', '/api/alarms', north)).body.alarms.filter((a) => a.type === 'supplyLoss')
  }
  // One phone, two collectors: each sees every message of the connection, so filter by topic.
  function incidentMessages (): Incident[] {
    return northIncidents.messages.filter((m) => m.topic.startsWith('incidents/')).map((m) => JSON.parse(m.payload.toString()) as Incident)
  }
  function singleAlarmDevices (): Set<string | undefined> {
    return new Set(northAlarms.messages.filter((m) => m.topic.startsWith('alarms/')).map((m) => m.topic.split('/')[3]))
  }

  beforeAll(async () => {
    [influx, smtp] = await Promise.all([startInfluxDb1({ databases: ['city'] }), startSmtpServer()])
    rulesDir = await makeTempDir('csg-incident-rules-')
    const rulesFile = join(rulesDir, 'rules.yaml')
    await writeFile(rulesFile, RULES)
    gw = await startTestGateway({
      env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', ALARM_RULES_FILE: rulesFile, SMTP_URL: smtp.url, SMTP_FROM: 'alarms@city.example', SPOOL_GROUP_COMMIT_MS: '5' },
    })
    for (const id of LAMPS) secrets[id] = (await addDevice(registryPath(gw.dataDir), { id, kind: 'lamp-post', district: 'north', group: 'feeder-12' })).secret
    secrets['lp-flap'] = (await addDevice(registryPath(gw.dataDir), { id: 'lp-flap', kind: 'lamp-post', district: 'north' })).secret
    const northCrew = await registerCrew(gw.dataDir, 'crew-north', ['north'])
    const southCrew = await registerCrew(gw.dataDir, 'crew-south', ['south'])
    northSecret = northCrew.secret
    north = basic('crew-north', northSecret)
    south = basic('crew-south', southCrew.secret)
    await gw.gateway.reloadRegistry()
    devices = createDevicePublisher(() => gw.mqttUrl, secrets)
    northPhone = await connectClient(gw.mqttUrl, { clientId: 'crew-north-phone', username: 'crew-north', password: northCrew.secret })
    const southPhone = await connectClient(gw.mqttUrl, { clientId: 'crew-south-phone', username: 'crew-south', password: southCrew.secret })
    clients.push(northPhone, southPhone)
    northAlarms = await collect(northPhone, 'alarms/north/#')
    northIncidents = await collect(northPhone, 'incidents/north/#')
    southSeen = await collect(southPhone, 'incidents/south/#')
    // Another district's incidents, and every district's, are not the south crew's to subscribe to.
    expect(await subscribeCodes(southPhone, ['incidents/north/#', 'incidents/#', 'incidents/+/x'])).toEqual([128, 128, 128])
  })
  afterAll(async () => {
    await devices?.close()
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
    await Promise.all([influx?.close(), smtp?.close()])
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  it('turns 20 lamp posts of one feeder losing supply into one incident, with 20 recorded member alarms', async () => {
    for (const id of LAMPS) await devices.publish(id, DARK)
    const alarms = await eventually(supplyAlarms, (a) => a.length === 20, { what: '20 supplyLoss alarms in the API' })
    // The first four went to crews on their own before the threshold; the other 16 joined the incident.
    const members = alarms.filter((a) => a.incident !== undefined)
    expect(members).toHaveLength(16)
    const incidentId = members[0]!.incident!
    expect(new Set(members.map((a) => a.incident))).toEqual(new Set([incidentId]))

    // Updates coalesced: a handful of messages at most, all of the one incident, the last one complete.
    const messages = await eventually(incidentMessages, (m) => m.at(-1)?.members.length === 20, { what: 'the incident with 20 members', timeoutMs: 10_000 })
    expect(new Set(messages.map((m) => m.id))).toEqual(new Set([incidentId]))
    expect(messages.length).toBeLessThanOrEqual(3)
    expect(northIncidents.messages.find((m) => m.topic.startsWith('incidents/'))!.topic).toBe(`incidents/north/${incidentId}`)
    expect(messages.at(-1)).toMatchObject({ id: incidentId, type: 'supplyLoss', group: 'feeder-12', district: 'north', severity: 'major', state: 'open' })
    expect(new Set(messages.at(-1)!.members.map((m) => m.alarmId))).toEqual(new Set(alarms.map((a) => a.id)))

    // At most N−1 single alarms reached the crew.
    expect(singleAlarmDevices().size).toBe(4)

    // Every member recorded in InfluxDB, the joined ones with the incident id.
    const rows = await eventually(
      () => influx.query('SELECT "device_id", "incident", "message" FROM "alarms" WHERE "type" = \'supplyLoss\' AND "change" = \'raised\'', 'city'),
      (r) => (r[0]?.series?.[0]?.values.length ?? 0) === 20,
      { what: '20 raised supplyLoss points' },
    )
    const values = rows[0]!.series![0]!.values
    expect(values.filter((v) => v[2] === incidentId)).toHaveLength(16)

    // One incident mail.
    const mails = await eventually(() => smtp.received(), (m) => m.some((mail) => mail.subject.includes('Incident')), { what: 'the incident mail' })
    await new Promise((resolve) => setTimeout(resolve, 500))
    const incidentMails = (await smtp.received()).filter((m) => m.subject.includes('Incident'))
    expect(incidentMails).toHaveLength(1)
    expect(incidentMails[0]!.text).toContain('feeder-12')
    expect(mails.filter((m) => m.subject.includes('lp-f12-')).length).toBeLessThanOrEqual(4)

    // GET /api/incidents: the north crew sees it, the south crew nothing.
    const listed = await api<{ incidents: Incident[] }>('GET', '/api/incidents?state=open', north)
    expect(listed.body.incidents.map((i) => i.id)).toEqual([incidentId])
    expect((await api<{ incidents: Incident[] }>('GET', '/api/incidents', south)).body.incidents).toEqual([])
  })

  it('acknowledges every member when the incident is acknowledged; another district cannot', async () => {
    const incidentId = (await api<{ incidents: Incident[] }>('GET', '/api/incidents?state=open', north)).body.incidents[0]!.id
    expect((await api('POST', `/api/incidents/${incidentId}/ack`, south, {})).status).toBe(404)
    await northPhone.publishAsync(`incidents/north/${incidentId}/ack`, JSON.stringify({ note: 'feeder 12 tripped' }), { qos: 1 })
    const alarms = await eventually(supplyAlarms, (a) => a.every((x) => x.state === 'acknowledged'), { what: 'every member acknowledged' })
    expect(alarms).toHaveLength(20)
    for (const alarm of alarms) expect(alarm).toMatchObject({ ackedBy: 'crew-north', ackNote: 'feeder 12 tripped' })
    await eventually(incidentMessages, (m) => m.at(-1)?.state === 'acknowledged', { what: 'the acknowledged incident message' })
    expect(incidentMessages().at(-1)!.ackedBy).toBe('crew-north')
  })

  it('closes the incident when every member has cleared, and removes its retained message', async () => {
    const incidentId = incidentMessages()[0]!.id
    for (const id of LAMPS) await devices.publish(id, LIT)
    const closed = await eventually(incidentMessages, (m) => m.at(-1)?.state === 'closed', { what: 'the closed incident message' })
    expect(closed.at(-1)).toMatchObject({ id: incidentId, state: 'closed' })
    expect(closed.at(-1)!.closedAt).toBeDefined()
    expect(northIncidents.messages.filter((m) => m.topic.startsWith('incidents/')).at(-1)!.retain).toBe(false)
    expect((await api<{ incidents: Incident[] }>('GET', '/api/incidents?state=open', north)).body.incidents).toEqual([])
    expect((await api<{ incidents: Incident[] }>('GET', '/api/incidents', north)).body.incidents[0]).toMatchObject({ id: incidentId, state: 'closed' })
    expect((await api('POST', `/api/incidents/${incidentId}/ack`, north, {})).status).toBe(409)

    // A crew phone connecting now gets no retained incident.
    const late = await connectClient(gw.mqttUrl, { clientId: 'crew-north-late', username: 'crew-north', password: northSecret })
    clients.push(late)
    const retained = await collect(late, 'incidents/north/#')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(retained.messages).toEqual([])

    // Only the four single alarms ever reached the crew (raise, acknowledgement, clear of each).
    expect(singleAlarmDevices().size).toBe(4)
    expect(southSeen.messages).toEqual([])
  })

  it('keeps a flapping alarm open without pushing it again, and clears it after a quiet window', async () => {
    const topic = 'alarms/north/lamp-post/lp-flap/doorOpen'
    const pushes = (): Alarm[] => northAlarms.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload.toString()) as Alarm)
    // Readings with their own time: five opens and closes within one second, 30 s ago.
    const baseMs = Date.now() - 30_000
    const door = (offsetMs: number, doorOpen: boolean) => devices.publish('lp-flap', { ...LIT, doorOpen, ts: new Date(baseMs + offsetMs).toISOString() })
    for (let i = 0; i < 5; i++) {
      await door(i * 200, true)
      await door(i * 200 + 100, false)
    }
    const openOne = await eventually(async () => (await api<{ alarms: Alarm[] }>('GET', '/api/alarms?state=open', north)).body.alarms.find((a) => a.deviceId === 'lp-flap'), (a) => a?.flapping === true, { what: 'the flapping alarm open in the API' })
    expect(openOne).toMatchObject({ type: 'doorOpen', state: 'active', flapping: true })
    await eventually(pushes, (p) => p.length === 9, { what: 'five raises and four clears' })
    // The switch to flapping is a change of its own: one `alarms` point and one log line, not pushed.
    const flappingPoints = (): Promise<unknown[][]> => influx.query('SELECT "alarm_id", "change", "state" FROM "alarms" WHERE "device_id" = \'lp-flap\' AND ("change" = \'flapping\' OR "change" = \'unflapping\')', 'city').then((r) => r[0]?.series?.[0]?.values ?? [])
    const switched = await eventually(flappingPoints, (v) => v.length === 1, { what: 'the flapping point' })
    expect(switched[0]!.slice(1)).toEqual([openOne!.id, 'flapping', 'active'])
    expect(gw.logs().filter((l) => l.msg === 'alarm flapping: kept open' && l.deviceId === 'lp-flap')).toHaveLength(1)
    // It keeps flapping: nothing more reaches the crew.
    await door(1100, true)
    await door(1200, false)
    await door(2500, false) // closed for 1.3 s of the 2 s window
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(pushes()).toHaveLength(9)
    // Closed for the whole window: it clears, and crews get that clear.
    await door(3300, false)
    const last = await eventually(pushes, (p) => p.length === 10, { what: 'the final clear' })
    expect(last.at(-1)).toMatchObject({ state: 'cleared', flapping: true, id: openOne!.id })
    // And back: an `unflapping` point and log line just ahead of the clear.
    const back = await eventually(flappingPoints, (v) => v.length === 2, { what: 'the unflapping point' })
    expect(back[1]!.slice(1)).toEqual([openOne!.id, 'unflapping', 'active'])
    expect(gw.logs().filter((l) => l.msg === 'alarm no longer flapping' && l.deviceId === 'lp-flap')).toHaveLength(1)
  })

  it('describes the incident routes in the OpenAPI document', async () => {
    const doc = await (await fetch(`${gw.httpUrl}/api/openapi.json`)).json() as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/incidents', '/api/incidents/{id}/ack']))
  })
})
