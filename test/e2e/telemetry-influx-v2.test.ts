// The v2 write API (INFLUX_API=v2, @influxdata/influxdb-client) against a real server that speaks
// it: Debian's VictoriaMetrics, read back through its export API (field f of m → metric m_f).
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { startVictoriaMetrics, type VictoriaMetricsServer } from '../helpers/victoria-metrics.ts'
import { eventually } from '../helpers/wait.ts'

let vm: VictoriaMetricsServer
let gw: TestGateway
let client: MqttClient

beforeAll(async () => {
  vm = await startVictoriaMetrics()
  gw = await startTestGateway({ env: { INFLUX_URL: vm.url, INFLUX_API: 'v2', INFLUX_BUCKET: 'city', INFLUX_ORG: 'city-ops', INFLUX_TOKEN: 'not-checked-by-vm' } })
  const { secret } = await registerDevice(gw.dataDir, 'wp-7', 'water-pipe', 'harbour')
  await gw.gateway.reloadRegistry()
  client = await connectDevice(gw.mqttUrl, 'wp-7', secret)
})
afterAll(async () => {
  await client?.endAsync(true)
  await gw?.close(true)
  await vm?.close()
})

describe('telemetry → InfluxDB v2 write API', () => {
  it('stores every field with the reading time and the device tags', async () => {
    const ts = Date.now() - 10_000
    const reading = { ts, pressure: 412.5, flowRate: -3.25, leakScore: 12, battery: 88, pH: 7.4 }
    await client.publishAsync('devices/wp-7/telemetry', JSON.stringify(reading), { qos: 1 })
    const series = await eventually(() => vm.export('{__name__=~"water_pipe_.*"}'), (s) => s.length === 5, { what: 'five water_pipe series' })
    const byField = Object.fromEntries(series.map((s) => [s.metric.__name__!.replace('water_pipe_', ''), s]))
    expect(Object.keys(byField).sort()).toEqual(['battery', 'flowRate', 'leakScore', 'pH', 'pressure'])
    for (const [field, value] of Object.entries(reading)) {
      if (field === 'ts') continue
      expect(byField[field]?.values, field).toEqual([value])
      expect(byField[field]?.timestamps, field).toEqual([ts])
      expect(byField[field]?.metric).toMatchObject({ device_id: 'wp-7', district: 'harbour' })
    }
  })

  it('reports storage reachable in /readyz', async () => {
    const res = await fetch(`${gw.httpUrl}/readyz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ready', broker: 'listening', storage: { state: 'reachable' } })
  })
})
