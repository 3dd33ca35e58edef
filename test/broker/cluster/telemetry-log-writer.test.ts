// The InfluxDB writer, unchanged, on the telemetry log: two nodes (two connections, two logs, two
// writers) drain one R3 stream into a real influxd 1.x. Every line is written exactly once across
// the nodes, the type-conflicting line lands in the shared quarantine stream, and the stream ends
// empty. The quarantine stream on its own: one entry per refused line, repeats within the window kept once.
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLUSTER_QUARANTINE } from '../../../broker/config.ts'
import { QUARANTINE_STREAM, TELEMETRY_STREAM } from '../../../broker/cluster/names.ts'
import { openStreamQuarantine } from '../../../broker/cluster/quarantine-stream.ts'
import { openTelemetryLog, type TelemetryLog } from '../../../broker/cluster/telemetry-log.ts'
import type { Quarantine, QuarantineEntry } from '../../../broker/influx/quarantine.ts'
import { createInfluxV1Sink } from '../../../broker/influx/sink-influx-v1.ts'
import type { Sink } from '../../../broker/influx/sink.ts'
import { createWriter, type Writer } from '../../../broker/influx/writer.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../../helpers/influxdb.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'
import { telemetryLogDefaults, writerDefaults } from '../../helpers/default-options.ts'
import { eventually } from '../../helpers/wait.ts'

const silent = pino({ level: 'silent' })

let cluster: NatsCluster | undefined
let influx: InfluxDb1Server | undefined
let admin: NatsConnection | undefined
let jsm: JetStreamManager
const closers: (() => Promise<void>)[] = []

beforeAll(async () => {
  const started = await Promise.allSettled([startNatsCluster({ nodes: 3 }), startInfluxDb1({ databases: ['city'] })])
  if (started[0].status === 'fulfilled') cluster = started[0].value
  if (started[1].status === 'fulfilled') influx = started[1].value
  const failed = started.find((s) => s.status === 'rejected')
  if (failed !== undefined) throw failed.reason
  admin = await connectNats()
  jsm = await jetstreamManager(admin)
})
afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await admin?.close()
  await cluster?.close()
  await influx?.close()
})

async function connectNats (): Promise<NatsConnection> {
  if (cluster === undefined) throw new Error('cluster not started')
  return connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
}

interface Node { log: TelemetryLog, writer: Writer, written: { lines: number }, quarantined: { lines: number } }

/** A gateway node: its connection, telemetry log, the cluster quarantine and a writer into influxd. */
async function startNode (nodeName: string): Promise<Node> {
  if (influx === undefined) throw new Error('influxd not started')
  const nc = await connectNats()
  const log = await openTelemetryLog({ ...telemetryLogDefaults, nc, replicas: 3, nodeName, maxBytes: 64 * 1024 ** 2, pullExpiresMs: 1000, log: silent })
  const quarantine = await openStreamQuarantine({ ...CLUSTER_QUARANTINE, js: jetstream(nc), jsm: await jetstreamManager(nc), replicas: 3 })
  const sink: Sink = createInfluxV1Sink({ url: influx.url, database: 'city', timeoutMs: 5000, log: silent })
  const written = { lines: 0 }
  const quarantined = { lines: 0 }
  const writer = createWriter({
    ...writerDefaults,
    spool: log,
    sink,
    quarantine,
    log: silent,
    batchLines: 500,
    flushIntervalMs: 50,
    metrics: {
      onWrite (lines) { written.lines += lines },
      onQuarantine (lines) { quarantined.lines += lines },
    },
  })
  closers.push(async () => {
    await writer.close()
    await log.close()
    await sink.close()
    await nc.close()
  })
  return { log, writer, written, quarantined }
}

async function quarantineEntries (): Promise<QuarantineEntry[]> {
  const stream = await jsm.streams.get(QUARANTINE_STREAM)
  const info = await stream.info()
  const entries: QuarantineEntry[] = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const message = await stream.getMessage({ seq })
    if (message !== null) entries.push(message.json<QuarantineEntry>())
  }
  return entries
}

const base = Date.now() - 60_000

describe('the InfluxDB writer on the telemetry log (2 nodes, R3, real influxd)', () => {
  it('stores every line exactly once across the nodes, quarantines the refused one in the shared stream, and empties the log', async () => {
    if (influx === undefined) throw new Error('influxd not started')
    // f is an integer from now on: a float f is refused (field type conflict).
    const seed = createInfluxV1Sink({ url: influx.url, database: 'city', timeoutMs: 5000, log: silent })
    await seed.write([`conflict,device_id=seed f=0i ${base - 1}`])
    await seed.close()

    const a = await startNode('node-a')
    const b = await startNode('node-b')
    const records = 400
    const linesPerRecord = 5
    const badLine = `conflict,device_id=lamp-x f=1.5 ${base + 1_000_000}`
    a.writer.start()
    b.writer.start()
    // Devices on both nodes, ten messages at a time (one JetStream message each) while both writers
    // pull; one of node b's messages carries the bad line.
    for (let first = 0; first < records; first += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => {
        const r = first + i
        const lines = Array.from({ length: linesPerRecord }, (_, l) => `conflict,device_id=lamp-${r % 20} f=${r * linesPerRecord + l}i ${base + r * linesPerRecord + l}`)
        if (r === 123) lines.push(badLine)
        return (r % 2 === 0 ? a : b).log.append(lines)
      }))
    }
    const good = records * linesPerRecord

    await eventually(() => influx?.count('city', 'conflict', 'f'), (n) => n === good + 1, { what: `${good} points (and the seed) in influxd`, timeoutMs: 20_000 })
    await eventually(() => jsm.streams.info(TELEMETRY_STREAM), (info) => info.state.messages === 0, { what: 'telemetry stream empty', timeoutMs: 10_000 })
    // Exactly once: the writers together wrote each good line once and quarantined the bad one once.
    expect(a.written.lines + b.written.lines).toBe(good)
    expect(a.quarantined.lines + b.quarantined.lines).toBe(1)
    expect(a.written.lines).toBeGreaterThan(0)
    expect(b.written.lines).toBeGreaterThan(0)
    const entries = await quarantineEntries()
    expect(entries).toHaveLength(1)
    expect(entries[0]?.line).toBe(badLine)
    expect(entries[0]?.reason).toMatch(/field type conflict/)
    expect(a.writer.state().connected || b.writer.state().connected).toBe(true)
  }, 40_000)

  it('the quarantine stream: limits retention with R3, an entry per add once acknowledged, the same line and reason within the window kept once', async () => {
    const info = await jsm.streams.info(QUARANTINE_STREAM)
    expect(info.config).toMatchObject({ retention: 'limits', num_replicas: 3, max_bytes: CLUSTER_QUARANTINE.maxBytes, max_age: CLUSTER_QUARANTINE.maxAgeMs * 1_000_000, discard: 'old' })
    const before = (await quarantineEntries()).length
    if (admin === undefined) throw new Error('no connection')
    const quarantine: Quarantine = await openStreamQuarantine({ ...CLUSTER_QUARANTINE, js: jetstream(admin), jsm, replicas: 3 })
    const entry = { tsMs: Date.now(), reason: 'unable to parse', line: 'not line protocol' }
    await quarantine.add(entry)
    await quarantine.add({ ...entry, tsMs: entry.tsMs + 1 })
    await quarantine.add({ ...entry, line: 'not line protocol either' })
    const entries = await quarantineEntries()
    expect(entries.slice(before)).toEqual([entry, { ...entry, line: 'not line protocol either' }])
  })
})
