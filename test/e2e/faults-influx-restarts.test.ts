// InfluxDB stopped and started three times while eight devices keep publishing QoS 1 readings:
// once the load stops, exactly the acknowledged readings are in InfluxDB (stored = acknowledged).
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let influx: InfluxDb1Server
let gw: TestGateway
const clients: MqttClient[] = []
beforeAll(async () => {
  influx = await startInfluxDb1({ databases: ['city'] })
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_TIMEOUT_MS: '2000' } })
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await gw?.close(true)
  await influx?.close()
})

it('stores exactly the acknowledged readings across three InfluxDB restarts under QoS 1 load', async () => {
  const ids = Array.from({ length: 8 }, (_, i) => `restart-${i}`)
  for (const id of ids) {
    const { secret } = await registerDevice(gw.dataDir, id, 'manhole')
    await gw.gateway.reloadRegistry()
    clients.push(await connectDevice(gw.mqttUrl, id, secret))
  }
  const acked = new Set<string>()
  let isLoading = true
  const base = Date.now() - 3_600_000
  const loads = clients.map(async (client, d) => {
    for (let i = 0; isLoading && i < 100_000; i++) {
      await client.publishAsync(`devices/${ids[d]}/telemetry`, JSON.stringify({ ts: base + i, coverAngle: d }), { qos: 1 })
      acked.add(`${ids[d]}@${base + i}`)
    }
  })
  const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
  for (let round = 0; round < 3; round++) {
    await pause(600)
    await influx.stop()
    await pause(600)
    await influx.start()
  }
  await pause(300)
  isLoading = false
  await Promise.all(loads)
  expect(acked.size).toBeGreaterThan(500)

  const stored = await eventually(async () => {
    const [result] = await influx.query(`SELECT coverAngle, device_id FROM manhole WHERE device_id =~ /^restart-/`, 'city')
    return new Set((result?.series?.[0]?.values ?? []).map((row) => `${String(row[2])}@${String(row[0])}`))
  }, (s) => s.size >= acked.size, { timeoutMs: 40_000, intervalMs: 500, what: 'every acknowledged reading' })
  expect([...acked].filter((key) => !stored.has(key))).toEqual([])
  expect(stored.size).toBe(acked.size)
}, 90_000)
