// Cluster mode: two gateway nodes on real nats-servers (and influxd), devices spread over both, a
// stand-in context broker. The telemetry stream is a work queue: each message reaches one node's
// writer, which hands it to that node's NGSI-LD export before acknowledging it, so every device's
// newest reading is sent, whichever node took it, also after the context broker was down; and with
// devices moving between nodes and a context broker taking concurrent requests in random order, it
// ends with each device's newest value (the shared newest values, broker/cluster/ngsi-newest.ts).
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { startNgsiLdServer, type NgsiLdServer } from '../helpers/ngsi-ld-server.ts'
import { eventually } from '../helpers/wait.ts'

// Long enough that a killed node's readings come back after the newer ones were sent.
const ACK_WAIT_MS = 15_000

let rig: ClusterRig | undefined
let server: NgsiLdServer | undefined
let nodes: ClusterNodeProcess[] = []
beforeAll(async () => {
  server = await startNgsiLdServer()
  rig = await startClusterRig({ env: { NGSI_LD_URL: server.url, NGSI_LD_FLUSH_MS: '100', NATS_ACK_WAIT_MS: String(ACK_WAIT_MS) } })
}, 90_000)
afterAll(async () => {
  await rig?.close()
  await server?.close()
}, 60_000)

it('exports every device\'s newest reading from two nodes', async () => {
  const ids = Array.from({ length: 12 }, (_, i) => `mh-c${i}`)
  const secrets = await rig!.importDevices(ids.map((id) => ({ id, kind: 'manhole', district: 'centre' })))
  const a = await rig!.startNode('a')
  const b = await rig!.startNode('b')
  server!.behave({ mode: 'down' })
  const clients: MqttClient[] = []
  for (const [d, id] of ids.entries()) clients.push(await connectDevice((d % 2 === 0 ? a : b).mqttUrl, id, secrets.get(id) ?? ''))
  const base = Date.now() - 60_000
  await Promise.all(clients.map(async (client, d) => {
    for (let i = 0; i < 20; i++) {
      await client.publishAsync(`devices/${ids[d]}/telemetry`, JSON.stringify({ ts: base + i * 100, coverAngle: i }), { qos: 1 })
    }
  }))
  await eventually(() => server!.requests.length, (n) => n >= 1, { what: 'a refused request while down', timeoutMs: 20_000 })
  server!.behave({ mode: 'ok' })
  // Every device's newest reading reached the context broker, from whichever node took it.
  const newestSent = (): Map<string, number> => {
    const newest = new Map<string, number>()
    for (const request of server!.requests) {
      if (request.status >= 300) continue
      for (const entity of request.entities) {
        const value = (entity.coverAngle as { value?: number } | undefined)?.value ?? -1
        newest.set(entity.id, Math.max(newest.get(entity.id) ?? -1, value))
      }
    }
    return newest
  }
  const sent = await eventually(newestSent, (m) => ids.every((id) => m.get(`urn:ngsi-ld:Device:${id}`) === 19), { what: 'every device\'s newest reading sent', timeoutMs: 30_000, intervalMs: 250 })
  expect(sent.size).toBe(ids.length)
  expect(ids.every((id) => server!.entities.has(`urn:ngsi-ld:Device:${id}`))).toBe(true)
  await eventually(() => rig!.influx.count('city', 'manhole', 'coverAngle'), (n) => n === ids.length * 20, { what: 'every reading stored', timeoutMs: 30_000, intervalMs: 250 })
  for (const client of clients) await client.endAsync()
}, 120_000)

it('ends with every device\'s newest value while devices move between nodes and requests are taken out of order', async () => {
  const ids = Array.from({ length: 6 }, (_, i) => `mh-m${i}`)
  const secrets = await rig!.importDevices(ids.map((id) => ({ id, kind: 'manhole', district: 'centre' })))
  nodes = [await rig!.startNode('c'), await rig!.startNode('d')]
  // Concurrent requests of the two nodes are taken in random order, as over a real network.
  server!.behave({ mode: 'jitter', maxDelayMs: 300 })
  const readings = 16
  const base = Date.now() - 60_000
  await Promise.all(ids.map(async (id, d) => {
    for (let i = 0; i < readings; i++) {
      // Each reading on the other node than the one before: consecutive readings, two exports.
      const client = await connectDevice(nodes[(i + d) % 2]!.mqttUrl, id, secrets.get(id) ?? '', { clientId: id })
      await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts: base + i * 1000, coverAngle: i }), { qos: 1 })
      await client.endAsync()
    }
  }))
  const held = (): number[] => ids.map((id) => (server!.entities.get(`urn:ngsi-ld:Device:${id}`)?.coverAngle as { value?: number } | undefined)?.value ?? -1)
  await eventually(held, (values) => values.every((v) => v === readings - 1), { what: 'every device\'s newest value held', timeoutMs: 30_000, intervalMs: 250 })
  // Requests still in flight or sent again do not take it back.
  await new Promise((resolve) => setTimeout(resolve, 2000))
  expect(held()).toEqual(ids.map(() => readings - 1))
  const sent = server!.requests.filter((r) => r.status < 300).flatMap((r) => r.entities).filter((e) => e.id.startsWith('urn:ngsi-ld:Device:mh-m'))
  expect(sent.length).toBeGreaterThan(ids.length)
}, 120_000)

it('ends with every device\'s newest value when a node dies mid-stream and its readings come back late', async () => {
  const ids = Array.from({ length: 4 }, (_, i) => `mh-k${i}`)
  if (nodes.length < 2) nodes = [await rig!.startNode('c'), await rig!.startNode('d')]
  const secrets = await rig!.importDevices(ids.map((id) => ({ id, kind: 'manhole', district: 'centre' })))
  server!.behave({ mode: 'jitter', maxDelayMs: 300 })
  const base = Date.now() - 60_000
  async function publish (from: number, to: number): Promise<void> {
    await Promise.all(ids.map(async (id, d) => {
      for (let i = from; i < to; i++) {
        const client = await connectDevice(nodes[(i + d) % 2]!.mqttUrl, id, secrets.get(id) ?? '', { clientId: id })
        await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts: base + i * 1000, coverAngle: i }), { qos: 1 })
        await client.endAsync()
      }
    }))
  }
  await publish(0, 6)
  // Requests answered after 4 s (within NGSI_LD_TIMEOUT_MS): each node's export is in a round, its
  // writer holds readings 6 and 7 unacknowledged, and the surviving node's request is taken late.
  server!.behave({ mode: 'slow', delayMs: 4000 })
  await publish(6, 8)
  // (The stand-in records a request once it answers: nothing to wait on but the exports' rounds.)
  await new Promise((resolve) => setTimeout(resolve, 1500))
  // The node dies with what it held: JetStream gives that to another node ACK_WAIT_MS later, after
  // the newer readings below were sent.
  nodes[0]!.child.kill('SIGKILL')
  await nodes[0]!.exited
  server!.behave({ mode: 'jitter', maxDelayMs: 300 })
  nodes = [await rig!.startNode('e'), nodes[1]!]
  await publish(8, 16)
  const held = (): number[] => ids.map((id) => (server!.entities.get(`urn:ngsi-ld:Device:${id}`)?.coverAngle as { value?: number } | undefined)?.value ?? -1)
  await eventually(held, (values) => values.every((v) => v === 15), { what: 'every device\'s newest value held', timeoutMs: 30_000, intervalMs: 250 })
  // Past the redelivery of the dead node's messages: the newest values stay.
  await new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS + 5000))
  expect(held()).toEqual(ids.map(() => 15))
}, 150_000)
