// Alarms over HTTP with a real gateway and MQTT.js devices: the list (filters, order, district
// visibility), acknowledgement with the MQTT rules (ackedBy = signed-in name; other districts 404;
// twice 409), the server-sent event stream filtered to the viewer's districts, and bad input.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic, getJson, openEventStream, signIn } from '../helpers/api-client.ts'
import { registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'

type Alarm = { id: string; state: string; severity: string; district: string; deviceId: string; type: string; ackedBy?: string; ackNote?: string }

describe('alarms API', () => {
  let gw: TestGateway
  const clients: MqttClient[] = []
  const secrets: Record<string, string> = {}
  let north: Record<string, string>
  let south: Record<string, string>
  let ops: Record<string, string>
  const alarms = async (query: string, headers: Record<string, string>) => getJson(`${gw.httpUrl}/api/alarms${query}`, headers)
  const ack = (id: string, headers: Record<string, string>, body: unknown = {}) =>
    fetch(`${gw.httpUrl}/api/alarms/${id}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const publish = async (id: string, reading: Record<string, unknown>) => {
    let client = clients.find((c) => c.options.clientId === id)
    if (client === undefined) {
      client = await connectDevice(gw.mqttUrl, id, secrets[id]!)
      clients.push(client)
    }
    await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
  }

  beforeAll(async () => {
    gw = await startTestGateway()
    secrets['mh-n'] = (await registerDevice(gw.dataDir, 'mh-n', 'manhole', 'north')).secret
    secrets['mh-s'] = (await registerDevice(gw.dataDir, 'mh-s', 'manhole', 'south')).secret
    secrets.north = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    secrets.south = (await registerCrew(gw.dataDir, 'crew-south', ['south'])).secret
    secrets.ops = (await addOperator(registryPath(gw.dataDir), 'ops')).secret
    await gw.gateway.reloadRegistry()
    north = await signIn(gw.httpUrl, 'crew-north', secrets.north)
    south = await signIn(gw.httpUrl, 'crew-south', secrets.south)
    ops = basic('ops', secrets.ops)
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
  })

  it('streams a raised alarm to its district\'s crew only, and lists it for those who may see it', async () => {
    const northStream = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, north)
    const southStream = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, south)
    try {
      expect(northStream.status).toBe(200)
      expect(northStream.contentType).toMatch(/^text\/event-stream/)
      await northStream.waitFor((e) => e.event === 'ready')
      await southStream.waitFor((e) => e.event === 'ready')
      await publish('mh-n', { coverAngle: 120 })
      const raised = JSON.parse((await northStream.waitFor((e) => e.event === 'alarm')).data) as { change: string; alarm: Alarm }
      expect(raised).toMatchObject({ change: 'raised', alarm: { deviceId: 'mh-n', type: 'coverOpen', state: 'active', severity: 'critical', district: 'north' } })
      await publish('mh-s', { coverAngle: 0, waterLevel: 1.2 })
      const southRaised = JSON.parse((await southStream.waitFor((e) => e.event === 'alarm')).data) as { alarm: Alarm }
      expect(southRaised.alarm).toMatchObject({ deviceId: 'mh-s', type: 'highWater', severity: 'major' })
      expect(southStream.events.filter((e) => e.event === 'alarm').map((e) => (JSON.parse(e.data) as { alarm: Alarm }).alarm.district)).toEqual(['south'])
      expect(northStream.events.filter((e) => e.event === 'alarm')).toHaveLength(1)
    } finally {
      await northStream.close()
      await southStream.close()
    }

    const forNorth = (await alarms('', north)).body.alarms as Alarm[]
    expect(forNorth.map((a) => a.deviceId)).toEqual(['mh-n'])
    expect(((await alarms('', south)).body.alarms as Alarm[]).map((a) => a.deviceId)).toEqual(['mh-s'])
    // Operators see every district, most severe first.
    expect(((await alarms('?state=open', ops)).body.alarms as Alarm[]).map((a) => a.severity)).toEqual(['critical', 'major'])
    expect(((await alarms('?severity=major', ops)).body.alarms as Alarm[]).map((a) => a.deviceId)).toEqual(['mh-s'])
    expect(((await alarms('?district=north&state=active', ops)).body.alarms as Alarm[]).map((a) => a.deviceId)).toEqual(['mh-n'])
    expect((await alarms('?state=cleared', ops)).body.alarms).toEqual([])
  })

  it('answers bad filters with 400 and a reason, and another district\'s filter with 403', async () => {
    for (const query of ['?state=closed', '?severity=urgent', '?district=a%20b', '?sevrity=major']) {
      const res = await alarms(query, north)
      expect(res.status, query).toBe(400)
      expect(res.body.message).toMatch(/querystring/)
    }
    const other = await alarms('?district=south', north)
    expect(other.status).toBe(403)
  })

  it('acknowledges with the MQTT rules: right district only, ackedBy the signed-in name, once', async () => {
    const list = (await alarms('?district=north', north)).body.alarms as Alarm[]
    const alarm = list[0]!
    const crew = await connectClient(gw.mqttUrl, { clientId: 'phone-n', username: 'crew-north', password: secrets.north! })
    clients.push(crew)
    const mqttView = await collect(crew, `alarms/north/manhole/mh-n/coverOpen`)
    await mqttView.waitFor(1)

    expect((await ack(alarm.id, south)).status).toBe(404)
    expect((await ack(alarm.id, {})).status).toBe(401)
    expect((await ack('no-such-alarm', north)).status).toBe(404)
    for (const body of [{ note: 'x'.repeat(501) }, { note: { text: 'x' } }, { ackedBy: 'mallory' }]) {
      const res = await ack(alarm.id, north, body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect((await res.json() as { message: string }).message).toMatch(/body/)
    }
    const stream = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, north)
    try {
      await stream.waitFor((e) => e.event === 'ready')
      const res = await ack(alarm.id, north, { note: 'on our way' })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ id: alarm.id, state: 'acknowledged', ackedBy: 'crew-north', ackNote: 'on our way' })
      const event = JSON.parse((await stream.waitFor((e) => e.event === 'alarm')).data) as { change: string; alarm: Alarm }
      expect(event).toMatchObject({ change: 'acknowledged', alarm: { id: alarm.id, ackedBy: 'crew-north' } })
    } finally {
      await stream.close()
    }
    // Crews on MQTT see the same acknowledgement.
    await mqttView.waitFor(2)
    expect(mqttView.json(1)).toMatchObject({ state: 'acknowledged', ackedBy: 'crew-north' })
    const again = await ack(alarm.id, north)
    expect(again.status).toBe(409)
  })

  it('streams the clear; a cleared alarm leaves the open list and cannot be acknowledged', async () => {
    const stream = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, ops)
    const [open] = (await alarms('?district=south', ops)).body.alarms as Alarm[]
    try {
      await stream.waitFor((e) => e.event === 'ready')
      // The cover must stay closed for 60 s of reading time: two readings, the second 61 s later.
      const now = Date.now()
      await publish('mh-n', { coverAngle: 0, ts: now })
      await publish('mh-n', { coverAngle: 0, ts: now + 61_000 })
      const cleared = JSON.parse((await stream.waitFor((e) => e.event === 'alarm' && e.data.includes('"cleared"'))).data) as { alarm: Alarm }
      expect(cleared.alarm).toMatchObject({ deviceId: 'mh-n', state: 'cleared' })
      expect(((await alarms('?state=open', north)).body.alarms as Alarm[])).toEqual([])
      expect(((await alarms('?state=cleared', north)).body.alarms as Alarm[]).map((a) => a.id)).toEqual([cleared.alarm.id])
      expect((await ack(cleared.alarm.id, north)).status).toBe(409)
      // The south alarm is untouched and an operator may acknowledge it.
      const res = await ack(open!.id, ops)
      expect(await res.json()).toMatchObject({ state: 'acknowledged', ackedBy: 'ops' })
    } finally {
      await stream.close()
    }
  })
})
