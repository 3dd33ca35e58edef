// Durability: InfluxDB down while 2,000 QoS 1 readings arrive (all stored once it is back), and the
// gateway process SIGKILLed right after PUBACKs (every acknowledged reading stored after restart).
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerDevice, spawnGatewayProcess, startTestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

let influx: InfluxDb1Server
beforeAll(async () => { influx = await startInfluxDb1({ databases: ['city'] }) })
afterAll(async () => { await influx?.close() })

async function storedTimes (deviceIds: string[]): Promise<Set<number>> {
  const where = deviceIds.map((id) => `device_id = '${id}'`).join(' OR ')
  const [result] = await influx.query(`SELECT coverAngle FROM manhole WHERE ${where}`, 'city')
  return new Set((result?.series?.[0]?.values ?? []).map((row) => row[0] as number))
}

async function count (deviceIds: string[]): Promise<number> {
  return (await storedTimes(deviceIds)).size
}

describe('InfluxDB outage', () => {
  it('stores all 2,000 QoS 1 readings published while InfluxDB was down', async () => {
    const gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
    const ids = Array.from({ length: 10 }, (_, i) => `out-${i}`)
    const clients: MqttClient[] = []
    try {
      for (const id of ids) {
        const { secret } = await registerDevice(gw.dataDir, id, 'manhole')
        await gw.gateway.reloadRegistry()
        clients.push(await connectDevice(gw.mqttUrl, id, secret))
      }
      await influx.stop()
      const base = Date.now() - 600_000
      await Promise.all(clients.map(async (client, d) => {
        for (let i = 0; i < 200; i++) {
          await client.publishAsync(`devices/${ids[d]}/telemetry`, JSON.stringify({ ts: base + i * 10 + d, coverAngle: i % 90 }), { qos: 1 })
        }
      }))
      const ready = await (await fetch(`${gw.httpUrl}/readyz`)).json() as { storage: { state: string } }
      expect(ready.storage.state).toBe('spooling')
      const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text()
      expect(Number(/citygw_spool_depth_records (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0)

      await influx.start()
      await eventually(() => count(ids), (n) => n === 2000, { timeoutMs: 60_000, intervalMs: 500, what: '2,000 readings in InfluxDB' })
      // The spool is emptied once InfluxDB acknowledged the batches (just after they became visible).
      await eventually(async () => (await fetch(`${gw.httpUrl}/metrics`)).text(), (text) => /^citygw_spool_depth_records 0$/m.test(text), { what: 'an empty spool' })
    } finally {
      await Promise.all(clients.map((c) => c.endAsync(true)))
      await gw.close(true)
    }
  }, 120_000)
})

describe('gateway killed', () => {
  it('stores every reading it acknowledged before SIGKILL', async () => {
    const dataDir = await makeTempDir('citygw-kill-')
    const id = 'kill-1'
    const { secret } = await registerDevice(dataDir, id, 'manhole')
    const env = { DATA_DIR: dataDir, INFLUX_URL: influx.url, INFLUX_API: 'v1', LOG_LEVEL: 'info' }
    const first = await spawnGatewayProcess(env)
    onTestFinished(() => { first.child.kill('SIGKILL') })
    const client = await connectDevice(first.mqttUrl, id, secret)
    client.on('error', () => { /* the kill resets the socket */ })
    const base = Date.now() - 3_600_000
    const acked: number[] = []
    const total = 3000
    let killed = false
    const publishes = Array.from({ length: total }, (_, i) => {
      const ts = base + i
      return client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts, coverAngle: 1 }), { qos: 1 }).then(() => {
        acked.push(ts)
        if (acked.length === 1000 && !killed) {
          killed = true
          first.child.kill('SIGKILL')
        }
      }, () => { /* not acknowledged: the device would send it again */ })
    })
    await first.exited
    const ackedAtKill = [...acked]
    client.end(true)
    await Promise.race([Promise.allSettled(publishes), new Promise((resolve) => setTimeout(resolve, 2000))])
    expect(ackedAtKill.length).toBeGreaterThanOrEqual(1000)
    expect(ackedAtKill.length).toBeLessThan(total)

    const second = await spawnGatewayProcess(env)
    onTestFinished(() => { second.child.kill('SIGKILL') })
    try {
      const stored = await eventually(() => storedTimes([id]), (s) => ackedAtKill.every((ts) => s.has(ts)), { timeoutMs: 30_000, intervalMs: 300, what: 'every acknowledged reading' })
      expect(ackedAtKill.filter((ts) => !stored.has(ts))).toEqual([])
    } finally {
      second.child.kill('SIGTERM')
      expect(await second.exited).toBe(0)
      await removeTempDir(dataDir)
    }
  }, 120_000)
})
