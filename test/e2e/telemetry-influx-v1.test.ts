// A valid reading of each kind, published by a real MQTT.js device, lands in a real InfluxDB 1.x
// (Debian influxd, v1 /write API) with the measurement, tags, fields, types and time of README "InfluxDB".
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let influx: InfluxDb1Server
let gw: TestGateway
const clients: MqttClient[] = []

beforeAll(async () => {
  influx = await startInfluxDb1({ databases: ['city'] })
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city' } })
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync()))
  await gw?.close(true)
  await influx?.close()
})

async function device (id: string, kind: string, district: string): Promise<MqttClient> {
  const { secret } = await registerDevice(gw.dataDir, id, kind, district)
  await gw.gateway.reloadRegistry()
  const client = await connectDevice(gw.mqttUrl, id, secret)
  clients.push(client)
  return client
}

async function pointsOf (measurement: string, deviceId: string): Promise<Record<string, unknown>[]> {
  const [result] = await influx.query(`SELECT * FROM "${measurement}" WHERE device_id = '${deviceId}'`, 'city')
  const series = result?.series?.[0]
  if (series === undefined) return []
  return series.values.map((row) => Object.fromEntries(series.columns.map((c, i) => [c, row[i]])))
}

async function fieldTypes (measurement: string): Promise<Record<string, string>> {
  const [result] = await influx.query(`SHOW FIELD KEYS FROM "${measurement}"`, 'city')
  return Object.fromEntries((result?.series?.[0]?.values ?? []) as [string, string][])
}

const ts = '2026-11-25T10:00:00.123Z'
const cases = [
  {
    kind: 'lamp-post',
    measurement: 'lamp_post',
    reading: { ts, seq: 7, rssi: -71.5, commandedLevel: 80, actualLevel: 78, supplyVoltage: 231.4, supplyCurrent: 0.19, activePower: 42, powerFactor: 0.95, activeEnergy: 1234.5, operatingHours: 10_000, gearTemp: 35.5, tilt: 0.4, ambientLux: 3.2, doorOpen: false, leakage: false, lampFailure: false },
    types: { commandedLevel: 'integer', actualLevel: 'integer', supplyVoltage: 'float', activePower: 'float', doorOpen: 'boolean', seq: 'integer', rssi: 'float', operatingHours: 'float' },
  },
  {
    kind: 'water-pipe',
    measurement: 'water_pipe',
    reading: { ts: Date.parse(ts), pressure: 412, flowRate: -12.5, totalVolume: 99_000, waterTemp: 11.2, turbidity: 0.3, freeChlorine: 0.5, pH: 7.4, leakScore: 12, battery: 88 },
    types: { pressure: 'float', flowRate: 'float', leakScore: 'integer', battery: 'float', pH: 'float' },
  },
  {
    kind: 'manhole',
    measurement: 'manhole',
    reading: { ts, coverAngle: 1.5, coverOpen: false, waterLevel: 0.42, h2s: 0.1, ch4: 0, o2: 20.9, temperature: 9.5, battery: 76 },
    types: { coverAngle: 'float', coverOpen: 'boolean', waterLevel: 'float', ch4: 'float', battery: 'float' },
  },
]

describe('telemetry → InfluxDB 1.x (v1 API)', () => {
  it.each(cases)('stores a $kind reading with the contract schema', async ({ kind, measurement, reading, types }) => {
    const id = `${kind}-1`
    const client = await device(id, kind, 'old-town')
    await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })

    const { ts: _ts, ...fields } = reading
    // InfluxDB 1.x stores each field as its own series, so a query may briefly see part of a point.
    const isComplete = (p: Record<string, unknown>[]) => p.length === 1 && Object.keys(fields).every((f) => p[0]![f] !== null)
    const [point] = await eventually(() => pointsOf(measurement, id), isComplete, { what: `${measurement} point` })
    expect(point!.time).toBe(Date.parse(ts))
    expect(point!.device_id).toBe(id)
    expect(point!.district).toBe('old-town')
    for (const [field, value] of Object.entries(fields)) expect(point![field], `${field} in ${JSON.stringify(point)}`).toEqual(value)

    const stored = await fieldTypes(measurement)
    for (const [field, type] of Object.entries(types)) expect(stored[field], field).toBe(type)
    const [tagKeys] = await influx.query(`SHOW TAG KEYS FROM "${measurement}"`, 'city')
    expect(tagKeys?.series?.[0]?.values.flat().sort()).toEqual(['device_id', 'district'])
  })

  it('stamps a reading without ts with the time of receipt', async () => {
    const client = await device('mh-now', 'manhole', 'north')
    const before = Date.now()
    await client.publishAsync('devices/mh-now/telemetry', JSON.stringify({ coverAngle: 2 }), { qos: 1 })
    const after = Date.now()
    const [point] = await eventually(() => pointsOf('manhole', 'mh-now'), (p) => p.length === 1)
    expect(point!.time).toBeGreaterThanOrEqual(before)
    expect(point!.time).toBeLessThanOrEqual(after)
  })

  it('keeps every reading of a batch without ts as its own point', async () => {
    const client = await device('mh-batch', 'manhole', 'north')
    const batch = Array.from({ length: 5 }, (_, i) => ({ coverAngle: i }))
    await client.publishAsync('devices/mh-batch/telemetry', JSON.stringify(batch), { qos: 1 })
    const points = await eventually(() => pointsOf('manhole', 'mh-batch'), (p) => p.length === 5)
    expect(points.map((p) => p.coverAngle)).toEqual([0, 1, 2, 3, 4])
  })
})
