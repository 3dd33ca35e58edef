// Devices over HTTP against a real gateway and a real InfluxDB 1.x (INFLUX_API=v1): the list
// and detail (online, last seen, latest readings, district visibility), the series endpoint read
// back from influxd with InfluxQL, and bad input or a missing InfluxDB answered with a reason.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic, getJson } from '../helpers/api-client.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

type Device = { id: string; district: string; online: boolean; lastSeen: string | null; latest: Record<string, { value: unknown; ts: string }>; location?: unknown; fields?: { name: string; unit?: string }[] }

describe('devices API with InfluxDB 1.x', () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let pipe: MqttClient | undefined
  let north: Record<string, string>
  let ops: Record<string, string>
  const secrets: Record<string, string> = {}

  beforeAll(async () => {
    influx = await startInfluxDb1()
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city' } })
    const file = registryPath(gw.dataDir)
    secrets['wp-n'] = (await addDevice(file, { id: 'wp-n', kind: 'water-pipe', district: 'north', lat: 52.38, lon: 4.9, group: 'zone-3' })).secret
    secrets['lp-s'] = (await addDevice(file, { id: 'lp-s', kind: 'lamp-post', district: 'south' })).secret
    north = basic('crew-north', (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret)
    ops = basic('ops', (await addOperator(file, 'ops')).secret)
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => {
    await pipe?.endAsync(true)
    await gw?.close(true)
    await influx?.close()
  })

  it('lists only the caller\'s districts, with registry facts', async () => {
    const mine = await getJson(`${gw.httpUrl}/api/devices`, north)
    expect(mine.status).toBe(200)
    expect(mine.body.devices).toEqual([{ id: 'wp-n', kind: 'water-pipe', district: 'north', location: { lat: 52.38, lon: 4.9 }, group: 'zone-3', online: false, lastSeen: null, latest: {}, openAlarms: 0 }])
    const all = (await getJson(`${gw.httpUrl}/api/devices`, ops)).body.devices as Device[]
    expect(all.map((d) => d.id)).toEqual(['wp-n', 'lp-s'])
    expect(((await getJson(`${gw.httpUrl}/api/devices?district=south`, ops)).body.devices as Device[]).map((d) => d.id)).toEqual(['lp-s'])
    expect((await getJson(`${gw.httpUrl}/api/devices/lp-s`, north)).status).toBe(404)
    expect((await getJson(`${gw.httpUrl}/api/devices/nope`, ops)).status).toBe(404)
    const bad = await getJson(`${gw.httpUrl}/api/devices/a%20b`, ops)
    expect(bad.status).toBe(400)
    expect(bad.body.message).toMatch(/params\/id/)
    expect((await getJson(`${gw.httpUrl}/api/devices?colour=red`, ops)).status).toBe(400)
  })

  it('shows online, last seen and latest readings while a device reports', async () => {
    pipe = await connectDevice(gw.mqttUrl, 'wp-n', secrets['wp-n']!)
    const now = Date.now()
    const readings = [0, 1, 2, 3, 4].map((i) => ({ ts: now - (5 - i) * 60_000, pressure: 400 + i * 10, flowRate: 12.5, battery: 90 }))
    await pipe.publishAsync('devices/wp-n/telemetry', JSON.stringify(readings), { qos: 1 })
    const device = (await getJson(`${gw.httpUrl}/api/devices/wp-n`, north)).body as Device
    expect(device).toMatchObject({ id: 'wp-n', online: true, latest: { pressure: { value: 440, ts: new Date(now - 60_000).toISOString() }, flowRate: { value: 12.5 } } })
    expect(Date.parse(device.lastSeen!)).toBeGreaterThanOrEqual(now - 1000)
    expect(device.fields?.find((f) => f.name === 'pressure')).toMatchObject({ unit: 'kPa' })

    await pipe.endAsync()
    pipe = undefined
    await eventually(async () => ((await getJson(`${gw.httpUrl}/api/devices/wp-n`, ops)).body as Device).online, (online) => !online, { what: 'device offline', timeoutMs: 5000 })
  })

  it('returns recent values from InfluxDB for the chart', async () => {
    const series = await eventually(
      async () => (await getJson(`${gw.httpUrl}/api/devices/wp-n/series?field=pressure&minutes=30`, north)).body,
      (body) => Array.isArray(body.points) && body.points.length === 5,
      { what: 'pressure points in InfluxDB', timeoutMs: 10_000 })
    expect(series).toMatchObject({ deviceId: 'wp-n', field: 'pressure', minutes: 30, bucketSec: 8 })
    expect((series.points as { v: number }[]).map((p) => p.v)).toEqual([400, 410, 420, 430, 440])
    // Default field: the kind's first (pressure); default range 60 minutes.
    expect((await getJson(`${gw.httpUrl}/api/devices/wp-n/series`, north)).body).toMatchObject({ field: 'pressure', minutes: 60 })
    expect(((await getJson(`${gw.httpUrl}/api/devices/lp-s/series`, ops)).body.points as unknown[])).toEqual([])
  })

  it('answers bad series requests with a reason', async () => {
    for (const [query, pattern] of [['field=leakScore2', /numeric fields/], ['field=pressure&minutes=0', /minutes/], ['minutes=99999', /minutes/], ['minutes=abc', /minutes/]] as const) {
      const res = await getJson(`${gw.httpUrl}/api/devices/wp-n/series?${query}`, ops)
      expect(res.status, query).toBe(400)
      expect(res.body.message).toMatch(pattern)
    }
    expect((await getJson(`${gw.httpUrl}/api/devices/lp-s/series?field=lampFailure`, ops)).status).toBe(400)
    expect((await getJson(`${gw.httpUrl}/api/devices/lp-s/series`, north)).status).toBe(404)
    expect((await getJson(`${gw.httpUrl}/api/devices/wp-n/series`, {})).status).toBe(401)
  })

  it('says 502 with the reason when InfluxDB is down', async () => {
    await influx.stop()
    try {
      const res = await getJson(`${gw.httpUrl}/api/devices/wp-n/series`, ops)
      expect(res.status).toBe(502)
      expect(res.body.message).toMatch(/InfluxDB/)
    } finally {
      await influx.start()
    }
  })
})

describe('devices API without InfluxDB', () => {
  it('answers the series endpoint with 503 when INFLUX_URL is unset', async () => {
    const gw = await startTestGateway()
    try {
      await addDevice(registryPath(gw.dataDir), { id: 'mh-1', kind: 'manhole', district: 'north' })
      const ops = basic('ops', (await addOperator(registryPath(gw.dataDir), 'ops')).secret)
      await gw.gateway.reloadRegistry()
      const res = await getJson(`${gw.httpUrl}/api/devices/mh-1/series`, ops)
      expect(res.status).toBe(503)
      expect(res.body.message).toMatch(/INFLUX_URL/)
    } finally {
      await gw.close(true)
    }
  })
})
