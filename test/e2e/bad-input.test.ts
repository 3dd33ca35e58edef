// Bad telemetry, each case on its own: the device gets a clear notice on devices/{id}/errors, the
// message is kept in InfluxDB's `rejected` measurement, and the gateway keeps serving others.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let influx: InfluxDb1Server
let gw: TestGateway
const clients: MqttClient[] = []
let healthy: MqttClient
let healthySent = 0

beforeAll(async () => {
  influx = await startInfluxDb1({ databases: ['city'] })
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
  const { secret } = await registerDevice(gw.dataDir, 'healthy-1', 'manhole')
  await gw.gateway.reloadRegistry()
  healthy = await connectDevice(gw.mqttUrl, 'healthy-1', secret)
  clients.push(healthy)
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await gw?.close(true)
  await influx?.close()
})

let deviceCount = 0
async function lampPost () {
  const id = `lp-bad-${++deviceCount}`
  const { secret } = await registerDevice(gw.dataDir, id, 'lamp-post', 'west')
  await gw.gateway.reloadRegistry()
  const client = await connectDevice(gw.mqttUrl, id, secret)
  clients.push(client)
  const notices = await collect(client, `devices/${id}/errors`)
  return { id, client, notices }
}

async function rows (q: string): Promise<Record<string, unknown>[]> {
  const [result] = await influx.query(q, 'city')
  const series = result?.series?.[0]
  return series === undefined ? [] : series.values.map((row) => Object.fromEntries(series.columns.map((c, i) => [c, row[i]])))
}

/** The healthy device still gets its readings stored after each bad case. */
async function expectOthersServed (): Promise<void> {
  healthySent++
  await healthy.publishAsync('devices/healthy-1/telemetry', JSON.stringify({ coverAngle: healthySent }), { qos: 1 })
  await eventually(() => rows(`SELECT count(coverAngle) FROM manhole WHERE device_id = 'healthy-1'`), (r) => r[0]?.count === healthySent)
}

const good = { commandedLevel: 50, supplyVoltage: 230, activePower: 40 }
const dayMs = 24 * 60 * 60 * 1000

describe('bad input', () => {
  it.each([
    ['not JSON', '{"commandedLevel": 5', 'invalid_json', /JSON/i],
    ['JSON that is not an object or array', '42', 'not_object_or_array', /object|array/i],
    ['a string', '"hello"', 'not_object_or_array', /object|array/i],
    ['wrong types', JSON.stringify({ ...good, supplyVoltage: '230' }), 'invalid_reading', /supplyVoltage/],
    ['out of range', JSON.stringify({ ...good, commandedLevel: 101 }), 'invalid_reading', /commandedLevel/],
    ['a float for an integer', JSON.stringify({ ...good, commandedLevel: 50.5 }), 'invalid_reading', /commandedLevel/],
    ['missing required field', JSON.stringify({ commandedLevel: 50, activePower: 40 }), 'invalid_reading', /supplyVoltage/],
    ['101 readings', JSON.stringify(Array.from({ length: 101 }, () => good)), 'batch_too_large', /100/],
    ['an empty batch', '[]', 'empty_batch', /./],
    ['ts a day in the future', JSON.stringify({ ...good, ts: Date.now() + dayMs }), 'ts_in_future', /ts/],
    ['ts older than the backfill window', JSON.stringify({ ...good, ts: new Date(Date.now() - 31 * dayMs).toISOString() }), 'ts_too_old', /ts/],
    ['a __proto__ key', `{"commandedLevel":50,"supplyVoltage":230,"activePower":40,"__proto__":{"isAdmin":true}}`, 'forbidden_key', /__proto__/],
    ['deeply nested JSON', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'invalid_reading', /./],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'invalid_utf8', /UTF-8/i],
    ['NaN', '{"commandedLevel":NaN,"supplyVoltage":230,"activePower":40}', 'invalid_json', /JSON/i],
    ['an oversize payload', JSON.stringify({ ...good, pad: 'x'.repeat(70 * 1024) }), 'too_large', /65536/],
  ])('%s: notice, kept in `rejected`, others served', async (_name, payload, reason, text) => {
    const { id, client, notices } = await lampPost()
    await client.publishAsync(`devices/${id}/telemetry`, payload, { qos: 1 })
    await notices.waitFor(1)
    const notice = notices.json(0)
    expect(notice.status).toBe('rejected')
    expect(notice.accepted).toBe(0)
    expect(JSON.stringify(notice)).toMatch(text)
    const stored = await eventually(() => rows(`SELECT * FROM rejected WHERE device_id = '${id}'`), (r) => r.length === 1 && r[0]!.payload !== null && r[0]!.issues !== null)
    expect(stored[0]!.reason).toBe(reason)
    expect(Buffer.byteLength(String(stored[0]!.payload))).toBeLessThanOrEqual(4096)
    expect(await rows(`SELECT * FROM lamp_post WHERE device_id = '${id}'`)).toEqual([])
    expect(client.connected).toBe(true)
    await expectOthersServed()
  })

  it('stores the good readings of a batch and rejects the bad one, naming field and index', async () => {
    const { id, client, notices } = await lampPost()
    const t0 = Date.now() - 60_000
    const batch = [
      { ...good, ts: t0 },
      { ...good, ts: t0 + 1000, supplyVoltage: 999 },
      { ...good, ts: t0 + 2000 },
    ]
    await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(batch), { qos: 1 })
    await notices.waitFor(1)
    const notice = notices.json(0)
    expect(notice).toMatchObject({ status: 'partial', accepted: 2, rejected: 1 })
    expect(notice.readings).toEqual([{ index: 1, reason: 'invalid_reading', issues: [{ field: 'supplyVoltage', message: expect.stringMatching(/300/) as unknown }] }])
    const stored = await eventually(() => rows(`SELECT * FROM lamp_post WHERE device_id = '${id}'`), (r) => r.length === 2)
    expect(stored.map((r) => r.time)).toEqual([t0, t0 + 2000])
    const rejected = await eventually(() => rows(`SELECT * FROM rejected WHERE device_id = '${id}'`), (r) => r.length === 1 && r[0]!.issues !== null)
    expect(String(rejected[0]!.issues)).toContain('supplyVoltage')
  })

  it('stores a reading with an unknown field and names the field once per hour', async () => {
    const { id, client, notices } = await lampPost()
    for (let i = 0; i < 3; i++) {
      await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ...good, seq: i, firmwareX: 1 }), { qos: 1 })
    }
    await eventually(() => rows(`SELECT count(commandedLevel) FROM lamp_post WHERE device_id = '${id}'`), (r) => r[0]?.count === 3)
    await notices.waitFor(1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(notices.messages).toHaveLength(1)
    expect(notices.json(0)).toMatchObject({ status: 'unknown_fields', unknownFields: ['firmwareX'], accepted: 1, rejected: 0 })
    const [fields] = await influx.query('SHOW FIELD KEYS FROM lamp_post', 'city')
    expect(fields?.series?.[0]?.values.flat()).not.toContain('firmwareX')
  })

  it('closes only the connection of a client sending a packet above MAX_PACKET_BYTES', async () => {
    const { id: quitterId, client: quitter } = await lampPost()
    await quitter.publishAsync(`devices/${quitterId}/telemetry`, JSON.stringify(good), { qos: 1 })
    await quitter.endAsync()
    const { id, client } = await lampPost()
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    client.publish(`devices/${id}/telemetry`, Buffer.alloc(300 * 1024, 0x20), { qos: 0 })
    await closed
    await expectOthersServed()
    // Logged once, for this connection; normal disconnects (earlier tests) are not mistaken for it.
    const refusals = gw.logs().filter((l) => l.msg === 'connection closed: packet too large')
    expect(refusals).toHaveLength(1)
    expect(refusals[0]).toMatchObject({ reason: 'packet_size', err: { code: 'CSG_PAYLOAD_TOO_LARGE' } })
    const body = await (await fetch(`${gw.httpUrl}/healthz`)).json() as { status: string }
    expect(body.status).toBe('ok')
  })
})
