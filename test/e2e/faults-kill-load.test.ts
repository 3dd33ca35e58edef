// The gateway process SIGKILLed while 20 devices pipeline QoS 1 readings (10 in flight each), then
// restarted on the same DATA_DIR: every reading acknowledged before the kill is in InfluxDB.
// Complements outage.test.ts (one device, sequential) with concurrent load and group commits.
import { expect, it, onTestFinished } from 'vitest'
import type { MqttClient } from 'mqtt'
import { startInfluxDb1 } from '../helpers/influxdb.ts'
import { registerDevice, spawnGatewayProcess } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

it('stores every reading acknowledged before SIGKILL under concurrent QoS 1 load', async () => {
  const influx = await startInfluxDb1({ databases: ['city'] })
  onTestFinished(() => influx.close())
  const dataDir = await makeTempDir('citygw-killload-')
  onTestFinished(() => removeTempDir(dataDir))
  const ids = Array.from({ length: 20 }, (_, i) => `kl-${i}`)
  const secrets: string[] = []
  for (const id of ids) secrets.push((await registerDevice(dataDir, id, 'manhole')).secret)
  const env = { DATA_DIR: dataDir, INFLUX_URL: influx.url, INFLUX_API: 'v1' }
  const first = await spawnGatewayProcess(env, { asNpmStart: true }) // the build operators run
  onTestFinished(() => { first.child.kill('SIGKILL') })
  const clients: MqttClient[] = []
  for (let d = 0; d < ids.length; d++) {
    const client = await connectDevice(first.mqttUrl, ids[d]!, secrets[d]!)
    client.on('error', () => { /* the kill resets the socket */ })
    clients.push(client)
  }
  const acked: string[] = []
  const base = Date.now() - 3_600_000
  let isRunning = true
  const loads = clients.map(async (client, d) => {
    const lanes = Array.from({ length: 10 }, async (_, lane) => {
      for (let i = lane; isRunning && i < 50_000; i += 10) {
        try {
          await client.publishAsync(`devices/${ids[d]}/telemetry`, JSON.stringify({ ts: base + i, coverAngle: 2 }), { qos: 1 })
        } catch {
          return
        }
        if (isRunning) acked.push(`${ids[d]}@${base + i}`)
      }
    })
    await Promise.all(lanes)
  })
  await eventually(() => Promise.resolve(acked.length), (n) => n >= 3000, { timeoutMs: 30_000, what: '3,000 acknowledgements' })
  first.child.kill('SIGKILL')
  await first.exited
  isRunning = false
  const ackedAtKill = [...acked]
  for (const client of clients) client.end(true)
  await Promise.race([Promise.allSettled(loads), new Promise((resolve) => setTimeout(resolve, 2000))])

  const second = await spawnGatewayProcess(env, { asNpmStart: true })
  onTestFinished(() => { second.child.kill('SIGKILL') })
  const stored = await eventually(async () => {
    const [result] = await influx.query('SELECT coverAngle, device_id FROM manhole', 'city')
    return new Set((result?.series?.[0]?.values ?? []).map((row) => `${String(row[2])}@${String(row[0])}`))
  }, (s) => ackedAtKill.every((key) => s.has(key)), { timeoutMs: 30_000, intervalMs: 500, what: 'every acknowledged reading' })
  expect(ackedAtKill.filter((key) => !stored.has(key))).toEqual([])
  second.child.kill('SIGTERM')
  expect(await second.exited).toBe(0)
}, 90_000)
