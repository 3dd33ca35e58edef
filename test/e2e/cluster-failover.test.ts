// Cluster mode under load: two gateway nodes, devices on both, 20,000 QoS 1 readings. During the
// load one gateway node gets SIGKILL (its devices reconnect to the survivor and resend what was not
// acknowledged) and one nats-server is stopped. Afterwards every acknowledged reading is in
// InfluxDB: per device, as many points as acknowledged readings (a resend lands on the same series
// and time, so it cannot add one).
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { eventually } from '../helpers/wait.ts'

const DEVICES = 40
const READINGS_PER_DEVICE = 500
const LANES_PER_DEVICE = 8
const KILL_NODE_AT = 5000
const STOP_NATS_AT = 10_000

let rig: ClusterRig | undefined
beforeAll(async () => { rig = await startClusterRig() }, 60_000)
afterAll(async () => { await rig?.close() }, 60_000)

function connectSpread (urls: readonly string[], first: number, id: string, secret: string): MqttClient {
  const ordered = [...urls.slice(first), ...urls.slice(0, first)].map((url) => new URL(url))
  const client = mqtt.connect({
    servers: ordered.map((u) => ({ host: u.hostname, port: Number(u.port) })),
    clientId: id,
    username: id,
    password: secret,
    protocolVersion: 4,
    reconnectPeriod: 200,
    connectTimeout: 3000,
  })
  client.on('error', () => { /* refused while a node is down: MQTT.js moves on to the next server */ })
  return client
}

it('every acknowledged reading is stored after a gateway node is killed and a NATS server stopped under load', async () => {
  if (rig === undefined) throw new Error('rig not started')
  const ids = Array.from({ length: DEVICES }, (_, i) => `wp-${String(i).padStart(2, '0')}`)
  const secrets = await rig.importDevices(ids.map((id) => ({ id, kind: 'water-pipe', district: 'harbour' })))
  const nodeA: ClusterNodeProcess = await rig.startNode('gw-a')
  const nodeB: ClusterNodeProcess = await rig.startNode('gw-b')
  const urls = [nodeA.mqttUrl, nodeB.mqttUrl]

  const clients = ids.map((id, i) => connectSpread(urls, i % 2, id, secrets.get(id) ?? ''))
  await eventually(() => clients.filter((c) => c.connected).length, (n) => n === DEVICES, { what: 'all devices connected', timeoutMs: 20_000 })

  const acked = new Map<string, Set<number>>(ids.map((id) => [id, new Set()]))
  let total = 0
  const base = Date.now() - 3_600_000
  const loads = clients.map((client, d) => Promise.all(Array.from({ length: LANES_PER_DEVICE }, async (_, lane) => {
    const id = ids[d] as string
    for (let i = lane; i < READINGS_PER_DEVICE; i += LANES_PER_DEVICE) {
      const ts = base + i
      // MQTT.js keeps an unacknowledged QoS 1 message and resends it after reconnecting: this resolves once some node acknowledged it.
      await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts, pressure: 400 + (i % 50) }), { qos: 1 })
      acked.get(id)?.add(ts)
      total++
    }
  })))

  await eventually(() => total, (n) => n >= KILL_NODE_AT, { what: `${KILL_NODE_AT} acknowledgements`, timeoutMs: 60_000 })
  nodeA.child.kill('SIGKILL')
  await nodeA.exited
  const killedAt = total

  await eventually(() => total, (n) => n >= STOP_NATS_AT, { what: `${STOP_NATS_AT} acknowledgements with one node`, timeoutMs: 60_000 })
  const stoppedNats = rig.nats.servers[0]
  await stoppedNats?.stop()
  const natsStoppedAt = total

  await Promise.race([
    Promise.all(loads),
    new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`load did not finish: ${total} of ${DEVICES * READINGS_PER_DEVICE} acknowledged`)), 120_000)),
  ])
  console.log(`cluster-failover: ${total} acknowledged; gw-a killed at ${killedAt}, ${stoppedNats?.name ?? '?'} stopped at ${natsStoppedAt}`)
  expect(total).toBe(DEVICES * READINGS_PER_DEVICE)
  expect(clients.every((c) => c.connected)).toBe(true)

  const influx = rig.influx
  const stored = await eventually(async () => {
    const [result] = await influx.query('SELECT count(pressure) FROM water_pipe GROUP BY device_id', 'city')
    return new Map((result?.series ?? []).map((s) => [s.tags?.device_id ?? '', Number(s.values[0]?.[1] ?? 0)]))
  }, (counts) => ids.every((id) => (counts.get(id) ?? 0) >= (acked.get(id)?.size ?? 0)), { what: 'every acknowledged reading in InfluxDB', timeoutMs: 60_000, intervalMs: 500 })
  for (const id of ids) expect({ id, stored: stored.get(id) }).toEqual({ id, stored: acked.get(id)?.size })

  await Promise.all(clients.map((c) => c.endAsync()))
  expect(await nodeB.stop()).toBe(0)
}, 240_000)
