// 500 good devices beside 500 hostile clients on one child-process gateway: bad secrets, publish
// floods, oversize packets, garbage bytes and silent sockets on raw TCP. Every good reading is
// stored, the gateway stays up, and its RSS (sampled from /proc) stays within a bound.
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import type { MqttClient } from 'mqtt'
import { expect, it, onTestFinished } from 'vitest'
import { importDevices } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { startInfluxDb1 } from '../helpers/influxdb.ts'
import { spawnGatewayProcess } from '../helpers/gateway.ts'
import { connectClient, connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const GOOD = 500
const READINGS_PER_GOOD = 3
const RSS_BOUND_MB = 400

function rssMb (pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(line?.[1] ?? 0) / 1024
}

async function inBatches<T> (items: T[], size: number, run: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map((item, k) => run(item, i + k)))
}

it('stores every good reading and stays up within its memory bound under a hostile mix', async () => {
  const influx = await startInfluxDb1({ databases: ['city'] })
  onTestFinished(() => influx.close())
  const dataDir = await makeTempDir('citygw-mix-')
  onTestFinished(() => removeTempDir(dataDir))
  const csv = ['id,kind,district,lat,lon',
    ...Array.from({ length: GOOD }, (_, i) => `good-${i},manhole,north,,`),
    ...Array.from({ length: 250 }, (_, i) => `bad-${i},manhole,south,,`)].join('\n')
  const credentials = await importDevices(registryPath(dataDir), csv)
  const secretOf = new Map(credentials.map((c) => [c.id, c.secret]))
  const gw = await spawnGatewayProcess({ DATA_DIR: dataDir, INFLUX_URL: influx.url, INFLUX_API: 'v1', PUBLISH_RATE_PER_SEC: '20', PUBLISH_BURST: '40', MQTT_CONNECT_TIMEOUT_MS: '2000' })
  const pid = gw.child.pid!
  onTestFinished(async () => {
    gw.child.kill('SIGTERM')
    expect(await gw.exited).toBe(0)
  })
  let peakRss = rssMb(pid)
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssMb(pid)) }, 100)
  onTestFinished(() => clearInterval(sampler))
  const port = Number(new URL(gw.mqttUrl).port)
  const clients: MqttClient[] = []
  onTestFinished(async () => { await Promise.all(clients.map((c) => c.endAsync(true))) })

  // The good fleet connects first (as it would have before an attack starts).
  const good = Array.from({ length: GOOD }, (_, i) => `good-${i}`)
  const goodClients: MqttClient[] = []
  await inBatches(good, 50, async (id) => {
    const client = await connectDevice(gw.mqttUrl, id, secretOf.get(id)!)
    clients.push(client)
    goodClients.push(client)
  })

  // Hostile devices with valid credentials (compromised or broken firmware) are connected too:
  // on loopback every client shares one address, which the guessers below get locked out.
  const connectAll = async (ids: string[]): Promise<MqttClient[]> => {
    const out: MqttClient[] = []
    await inBatches(ids, 50, async (id) => {
      const client = await connectDevice(gw.mqttUrl, id, secretOf.get(id)!)
      client.on('error', () => {})
      clients.push(client)
      out.push(client)
    })
    return out
  }
  const flooders = await connectAll(Array.from({ length: 100 }, (_, i) => `bad-${i}`))
  const oversized = await connectAll(Array.from({ length: 100 }, (_, i) => `bad-${100 + i}`))

  const base = Date.now() - 3_600_000
  const hostile = [
    // 100 clients guessing secrets of good devices, 3 tries each (backoff, then lockout).
    inBatches(Array.from({ length: 100 }, (_, i) => i), 100, async (i) => {
      for (let t = 0; t < 3; t++) {
        await connectClient(gw.mqttUrl, { clientId: `good-${i}`, username: `good-${i}`, password: `guess-${t}`, connectTimeout: 1000 }).then((c) => c.endAsync(true), () => {})
      }
    }),
    // 100 registered devices flooding QoS 0 far above their rate.
    ...flooders.map((client) => {
      const id = client.options.clientId!
      for (let k = 0; k < 300; k++) client.publish(`devices/${id}/telemetry`, JSON.stringify({ ts: base + k, coverAngle: 9 }), { qos: 0 })
      return Promise.resolve()
    }),
    // 100 registered devices sending packets above MAX_PACKET_BYTES.
    ...oversized.map((client) => new Promise<void>((resolve) => {
      client.once('close', () => resolve())
      client.publish(`devices/${client.options.clientId!}/telemetry`, Buffer.alloc(300 * 1024, 0x7b), { qos: 1 })
    })),
    // 100 raw sockets sending garbage, 100 raw sockets saying nothing (slow clients).
    inBatches(Array.from({ length: 200 }, (_, i) => i), 50, async (i) => {
      await new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1')
        socket.on('error', () => {})
        socket.once('close', () => resolve())
        if (i < 100) socket.write(Buffer.from(Array.from({ length: 2048 }, (_, k) => (k * 7919 + i) % 256)))
        setTimeout(() => socket.destroy(), 6000)
      })
    }),
  ]
  // Meanwhile the good fleet reports, QoS 1.
  const goodSends = inBatches(goodClients.map((c, i) => [c, i] as const), 100, async ([client, d]) => {
    for (let r = 0; r < READINGS_PER_GOOD; r++) {
      await client.publishAsync(`devices/good-${d}/telemetry`, JSON.stringify({ ts: base + r, coverAngle: d % 180 }), { qos: 1 })
    }
  })
  await Promise.all([goodSends, ...hostile])

  const want = GOOD * READINGS_PER_GOOD
  await eventually(async () => {
    const [result] = await influx.query("SELECT count(coverAngle) FROM manhole WHERE district = 'north'", 'city')
    return Number(result?.series?.[0]?.values[0]?.[1] ?? 0)
  }, (n) => n === want, { timeoutMs: 30_000, intervalMs: 500, what: `${want} good readings` })
  expect((await fetch(`${gw.httpUrl}/healthz`)).status).toBe(200)
  const metrics = await (await fetch(`${gw.httpUrl}/metrics`)).text()
  expect(metrics).toMatch(/citygw_limits_exceeded_total\{limit="publish_rate"\} [1-9]/)
  expect(metrics).toMatch(/citygw_limits_exceeded_total\{limit="packet_size"\} [1-9]/)
  expect(metrics).toMatch(/citygw_auth_failures_total\{reason="bad_secret"\} [1-9]/)
  expect(goodClients.every((c) => c.connected)).toBe(true)
  process.stderr.write(`hostile mix: peak gateway RSS ${peakRss.toFixed(0)} MB\n`)
  expect(peakRss).toBeLessThan(RSS_BOUND_MB)
}, 90_000)
