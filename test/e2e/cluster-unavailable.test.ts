// JetStream unavailable: with every nats-server stopped a node acknowledges nothing (devices keep
// and resend), /readyz answers 503, and once the servers are back ingestion resumes by itself and
// every reading acknowledged before or after is in InfluxDB.
import mqtt from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterRig } from '../helpers/cluster.ts'
import { eventually } from '../helpers/wait.ts'

let rig: ClusterRig | undefined
beforeAll(async () => { rig = await startClusterRig() }, 90_000)
afterAll(async () => { await rig?.close() }, 60_000)

async function readyStatus (httpUrl: string): Promise<number> {
  const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(2000) })
  await res.arrayBuffer()
  return res.status
}

it('acknowledges nothing while JetStream is down and resumes by itself', async () => {
  const secrets = await rig!.importDevices([{ id: 'wp-1', kind: 'water-pipe', district: 'west' }])
  const node = await rig!.startNode('gw-a')
  expect(await readyStatus(node.httpUrl)).toBe(200)
  const client = mqtt.connect(node.mqttUrl, { clientId: 'wp-1', username: 'wp-1', password: secrets.get('wp-1') ?? '', protocolVersion: 4, reconnectPeriod: 250 })
  client.on('error', () => { /* refused or cut while JetStream is down */ })
  await eventually(() => client.connected, (c) => c, { what: 'device connected', timeoutMs: 5000 })
  const base = Date.now() - 60_000
  await client.publishAsync('devices/wp-1/telemetry', JSON.stringify({ ts: base, pressure: 400 }), { qos: 1 })

  await Promise.all(rig!.nats.servers.map((server) => server.stop()))
  let ackedDuringOutage = false
  const during = client.publishAsync('devices/wp-1/telemetry', JSON.stringify({ ts: base + 1, pressure: 401 }), { qos: 1 })
    .then(() => { ackedDuringOutage = true })
  await eventually(() => readyStatus(node.httpUrl), (status) => status === 503, { what: '/readyz 503', timeoutMs: 15_000, intervalMs: 250 })
  await new Promise((resolve) => setTimeout(resolve, 3000))
  expect(ackedDuringOutage).toBe(false)

  await Promise.all(rig!.nats.servers.map((server) => server.start()))
  await Promise.race([during, new Promise((_resolve, reject) => setTimeout(() => reject(new Error('not acknowledged after JetStream returned')), 30_000))])
  expect(ackedDuringOutage).toBe(true)
  await eventually(() => readyStatus(node.httpUrl), (status) => status === 200, { what: '/readyz 200 again', timeoutMs: 15_000, intervalMs: 250 })
  await client.publishAsync('devices/wp-1/telemetry', JSON.stringify({ ts: base + 2, pressure: 402 }), { qos: 1 })
  await eventually(() => rig!.influx.count('city', 'water_pipe', 'pressure'), (n) => n === 3, { what: 'three readings in InfluxDB', timeoutMs: 30_000, intervalMs: 250 })
  await client.endAsync()
}, 120_000)
