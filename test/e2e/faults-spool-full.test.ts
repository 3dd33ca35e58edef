// Spool quota reached while InfluxDB is down: the gateway stops acknowledging (MQTT.js devices keep
// their unacknowledged messages and send them again after reconnecting), says so in logs and
// metrics, and resumes by itself once InfluxDB is back and the writer frees room: nothing is lost.
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
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', SPOOL_MAX_BYTES: '32768', SPOOL_SEGMENT_BYTES: '8192', INFLUX_TIMEOUT_MS: '1000' } })
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await gw?.close(true)
  await influx?.close()
})

async function metric (name: string): Promise<number> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text()
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
}

it('refuses without PUBACK while full and stores every reading once room returns', async () => {
  const ids = Array.from({ length: 5 }, (_, i) => `full-${i}`)
  for (const id of ids) {
    const { secret } = await registerDevice(gw.dataDir, id, 'manhole')
    await gw.gateway.reloadRegistry()
    // Devices as in the field: reconnect on their own, keep unacknowledged QoS 1 messages.
    const client = await connectDevice(gw.mqttUrl, id, secret, { reconnectPeriod: 200 })
    client.on('error', () => { /* refused while full */ })
    clients.push(client)
  }
  await influx.stop()
  const perDevice = 60
  const base = Date.now() - 3_600_000
  const padding = 'x'.repeat(0)
  let acked = 0
  const sends = clients.map(async (client, d) => {
    for (let i = 0; i < perDevice; i++) {
      // A batch of 5 readings (~300 bytes), so 300 messages need several times the 32 KiB quota.
      const batch = Array.from({ length: 5 }, (_, k) => ({ ts: base + i * 5 + k, coverAngle: d, seq: i }))
      await client.publishAsync(`devices/${ids[d]}/telemetry`, JSON.stringify(batch) + padding, { qos: 1 })
      acked++
    }
  })

  await eventually(() => metric('citygw_spool_full_refusals_total'), (n) => n > 0, { timeoutMs: 20_000, what: 'a spool-full refusal' })
  expect(acked).toBeLessThan(ids.length * perDevice)
  expect(gw.logs().filter((l) => l.msg === 'spool full: refusing appends until the writer catches up').length).toBeGreaterThanOrEqual(1)
  // Logged once per device and period, not per refused message.
  const perDeviceLogs = gw.logs().filter((l) => l.msg === 'telemetry not stored; closing the connection so the device retries')
  expect(new Set(perDeviceLogs.map((l) => l.deviceId)).size).toBe(perDeviceLogs.length)
  expect(await metric('citygw_spool_depth_bytes')).toBeLessThanOrEqual(32768)
  const health = await fetch(`${gw.httpUrl}/healthz`)
  expect(health.status).toBe(200)

  await influx.start()
  await Promise.race([Promise.all(sends), new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`only ${acked} acknowledged`)), 40_000))])
  const stored = await eventually(() => influx.count('city', 'manhole', 'coverAngle'), (n) => n >= ids.length * perDevice * 5, { timeoutMs: 30_000, intervalMs: 500, what: 'every reading stored' })
  expect(stored).toBe(ids.length * perDevice * 5)
  expect(gw.logs().some((l) => l.msg === 'spool has room again')).toBe(true)
}, 90_000)
