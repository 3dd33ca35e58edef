// The telemetry log on a real 3-node nats-server cluster: appends acknowledged by an R3 stream in
// group commits, read back whole, removed on commit (work queue), handed back on rewind; two nodes
// sharing the writers' consumer, failover of a dead node's messages after ack_wait, and held
// messages kept alive past it; full stream, oversized record, closed log, a consumer with other
// settings. Servers going down: telemetry-log-outage.test.ts.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { TELEMETRY_STREAM, WRITER_CONSUMER } from '../../../broker/cluster/names.ts'
import { openTelemetryLog, type TelemetryLog, type TelemetryLogOptions } from '../../../broker/cluster/telemetry-log.ts'
import { isGatewayError } from '../../../broker/errors.ts'
import type { SpoolBatch } from '../../../broker/spool/spool.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'
import { telemetryLogDefaults } from '../../helpers/default-options.ts'
import { eventually } from '../../helpers/wait.ts'

const silent = pino({ level: 'silent' })
/** Short enough for failover within a test, long enough for a loaded 2-core machine. */
const ACK_WAIT_MS = 2000

let cluster: NatsCluster
let admin: NatsConnection
let jsm: JetStreamManager
const connections: NatsConnection[] = []
const logs: TelemetryLog[] = []

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  admin = await connectNats()
  jsm = await jetstreamManager(admin)
})
afterAll(async () => {
  await admin?.close()
  await cluster?.close()
})
afterEach(async () => {
  // Nodes close together, as they would (each waits for its last pull request to end).
  await Promise.all(logs.splice(0).map((log) => log.close()))
  await Promise.all(connections.splice(0).map((nc) => nc.close()))
  // Each test starts with no stream: its consumer settings (ack_wait) are the test's own.
  await jsm.streams.delete(TELEMETRY_STREAM).catch(() => false)
})

async function connectNats (): Promise<NatsConnection> {
  return connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
}

/** A gateway node's log on its own connection; closed (then the connection) after the test. */
async function openNode (nodeName: string, overrides: Partial<TelemetryLogOptions> = {}): Promise<{ log: TelemetryLog, nc: NatsConnection }> {
  const nc = await connectNats()
  connections.push(nc)
  const log = await openTelemetryLog({ ...telemetryLogDefaults, ackWaitMs: ACK_WAIT_MS, pullExpiresMs: 1000, nc, replicas: 3, nodeName, maxBytes: 64 * 1024 ** 2, log: silent, ...overrides })
  logs.push(log)
  return { log, nc }
}

function lineOf (record: number, line = 0): string {
  return `lamp_post,device_id=lp-${record % 50},district=north lux=${record}.5,line=${line}i ${1_700_000_000_000 + record}`
}

/** Reads with a bound: resolves null if nothing came within `ms`. */
async function readWithin (log: TelemetryLog, maxLines: number, ms: number): Promise<SpoolBatch | null> {
  return log.read(maxLines, AbortSignal.timeout(ms))
}

/** Reads and commits until `count` lines came or `timeoutMs` passed; returns the lines. */
async function drain (log: TelemetryLog, count: number, timeoutMs = 10_000): Promise<string[]> {
  const lines: string[] = []
  const deadline = Date.now() + timeoutMs
  while (lines.length < count && Date.now() < deadline) {
    const batch = await readWithin(log, 10_000, Math.max(1, deadline - Date.now()))
    if (batch === null) break
    lines.push(...batch.lines)
    await log.commit(batch)
  }
  return lines
}

/** Messages in the stream: a confirmed ack removes its message from the work queue a moment later. */
async function streamMessages (): Promise<number> {
  return (await jsm.streams.info(TELEMETRY_STREAM)).state.messages
}

describe('telemetry log on a 3-node JetStream cluster', () => {
  it('creates an R3 work-queue stream and the writers\' consumer; acknowledges concurrent appends in fewer messages; reads them back whole; commit empties the stream', async () => {
    const { log } = await openNode('node-a')
    const info = await jsm.streams.info(TELEMETRY_STREAM)
    expect(info.config).toMatchObject({ num_replicas: 3, retention: 'workqueue', discard: 'new', storage: 'file', max_bytes: 64 * 1024 ** 2, duplicate_window: 120_000_000_000 })
    const consumer = await jsm.consumers.info(TELEMETRY_STREAM, WRITER_CONSUMER)
    expect(consumer.config).toMatchObject({ ack_policy: 'explicit', ack_wait: ACK_WAIT_MS * 1_000_000, max_ack_pending: telemetryLogDefaults.maxAckPending, max_deliver: -1 })

    const records = 2000
    await Promise.all(Array.from({ length: records }, (_, r) => log.append([lineOf(r, 0), lineOf(r, 1)])))
    const afterAppends = log.stats()
    expect(afterAppends.appendedRecords).toBe(records)
    expect(afterAppends.fsyncs).toBeGreaterThan(0)
    expect(afterAppends.fsyncs).toBeLessThan(records / 10) // group commit: many appends per message
    expect(await streamMessages()).toBe(afterAppends.fsyncs)
    expect(log.available()).toBe(true)
    await eventually(() => log.stats(), (s) => s.depthRecords === afterAppends.fsyncs && s.oldestRecordAgeMs !== null, { what: 'depth in stats', timeoutMs: 5000 })

    const first = await readWithin(log, 500, 5000)
    if (first === null) throw new Error('nothing read')
    // Whole messages: at least one even if larger than asked for, and every record's two lines together.
    expect(first.records).toBeGreaterThanOrEqual(1)
    for (let i = 0; i < first.lines.length; i += 2) expect(first.lines[i + 1]).toBe(first.lines[i]?.replace('line=0i', 'line=1i'))
    await log.commit(first)
    const rest = await drain(log, records * 2 - first.lines.length)
    const all = [...first.lines, ...rest]
    expect(all).toHaveLength(records * 2)
    expect(new Set(all).size).toBe(records * 2)
    await eventually(streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
    await eventually(() => log.stats(), (s) => s.depthRecords === 0 && s.depthBytes === 0 && s.oldestRecordAgeMs === null, { what: 'empty depth in stats', timeoutMs: 5000 })
    expect(log.stats().heldMessages).toBe(0)
  })

  it('rewind hands the read batch back: the same lines are read again, and stay in the stream until committed', async () => {
    const { log } = await openNode('node-a')
    for (let r = 0; r < 5; r++) await log.append([lineOf(r)])
    const lines: string[] = []
    let first: SpoolBatch | null = null
    while (lines.length < 5) {
      const batch = await readWithin(log, 100, 5000)
      if (batch === null) throw new Error('nothing read')
      first ??= batch
      lines.push(...batch.lines)
    }
    log.rewind()
    const again = await drain(log, 5, 5000)
    expect(again.sort()).toEqual(lines.sort())
    expect(log.stats().redeliveredMessages).toBe(5)
    await eventually(streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
    // A batch handed back cannot be committed any more: its messages belong to the new reads.
    await expect(log.commit(first as SpoolBatch)).rejects.toThrow(/rewound/)
  })

  it('two nodes share the consumer; a node that dies holding messages has them redelivered to the other after ack_wait', async () => {
    const a = await openNode('node-a')
    const b = await openNode('node-b')
    const records = 200
    for (let r = 0; r < records; r++) await (r % 2 === 0 ? a : b).log.append([lineOf(r)])

    // Both writers pull from the one consumer; each line is read by one of them.
    const readBy = { a: [] as string[], b: [] as string[] }
    async function writer (name: 'a' | 'b', log: TelemetryLog): Promise<void> {
      const deadline = Date.now() + 15_000
      while (readBy.a.length + readBy.b.length < records && Date.now() < deadline) {
        const batch = await readWithin(log, 10, 500)
        if (batch === null) continue
        readBy[name].push(...batch.lines)
        await new Promise((resolve) => setTimeout(resolve, 5)) // a write to InfluxDB takes time
        await log.commit(batch)
      }
    }
    await Promise.all([writer('a', a.log), writer('b', b.log)])
    expect(readBy.a.length).toBeGreaterThan(0)
    expect(readBy.b.length).toBeGreaterThan(0)
    expect(new Set([...readBy.a, ...readBy.b]).size).toBe(records)
    expect(readBy.a.length + readBy.b.length).toBe(records)

    // Node a reads and dies before committing: its connection is gone, no keep-alive, no nak.
    for (let r = records; r < records + 20; r++) await a.log.append([lineOf(r)])
    const held: string[] = []
    while (held.length < 20) {
      const batch = await readWithin(a.log, 100, 5000)
      if (batch === null) throw new Error('node a read nothing')
      held.push(...batch.lines)
    }
    const diedAt = Date.now()
    await a.nc.close()
    const taken = await drain(b.log, 20, ACK_WAIT_MS * 4)
    const failoverMs = Date.now() - diedAt
    expect(taken.sort()).toEqual(held.sort())
    expect(failoverMs).toBeGreaterThanOrEqual(ACK_WAIT_MS - 500)
    expect(failoverMs).toBeLessThan(ACK_WAIT_MS * 3)
    expect(b.log.stats().redeliveredMessages).toBeGreaterThan(0)
    await eventually(streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
  })

  it('messages a writer holds past ack_wait (a long InfluxDB outage) are kept alive, not redelivered to another node', async () => {
    const a = await openNode('node-a')
    const b = await openNode('node-b')
    for (let r = 0; r < 10; r++) await a.log.append([lineOf(r)])
    const held: SpoolBatch[] = []
    let heldLines = 0
    while (heldLines < 10) {
      const batch = await readWithin(a.log, 100, 5000)
      if (batch === null) throw new Error('node a read nothing')
      held.push(batch)
      heldLines += batch.lines.length
    }
    // Node b keeps asking for 2.5 × ack_wait and gets nothing: a's working() kept them.
    const stolen = await readWithin(b.log, 100, ACK_WAIT_MS * 2.5)
    expect(stolen).toBeNull()
    for (const batch of held) await a.log.commit(batch)
    await eventually(streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
    expect(a.log.stats().redeliveredMessages).toBe(0)
    expect(b.log.stats().redeliveredMessages).toBe(0)
  })

  it('a full stream refuses appends with CSG_SPOOL_FULL, and takes them again once a writer committed', async () => {
    const { log } = await openNode('node-a', { maxBytes: 64 * 1024 })
    const record = [lineOf(0).padEnd(4000, '0')]
    let refusal: unknown
    let acknowledged = 0
    for (let i = 0; i < 40 && refusal === undefined; i++) {
      try {
        await log.append(record)
        acknowledged++
      } catch (err) {
        refusal = err
      }
    }
    expect(isGatewayError(refusal, 'CSG_SPOOL_FULL')).toBe(true)
    expect(acknowledged).toBeGreaterThan(5)
    expect(log.available()).toBe(true) // full is not unavailable
    expect(await drain(log, acknowledged)).toHaveLength(acknowledged)
    await log.append(record)
  })

  it('a record larger than the largest message is refused at once with CSG_PAYLOAD_TOO_LARGE, and the log stays available', async () => {
    const { log } = await openNode('node-a', { maxMessageBytes: 4096 })
    const startedAt = Date.now()
    await expect(log.append([lineOf(0).padEnd(5000, '0')])).rejects.toSatisfy((err) => isGatewayError(err, 'CSG_PAYLOAD_TOO_LARGE'))
    expect(Date.now() - startedAt).toBeLessThan(100)
    expect(log.available()).toBe(true)
    await log.append([lineOf(1)])
    expect(await drain(log, 1)).toEqual([lineOf(1)])
  })

  it('close: later appends reject with CSG_SPOOL_CLOSED and reads end with null; what the node held goes back at once', async () => {
    const a = await openNode('node-a')
    const b = await openNode('node-b')
    for (let r = 0; r < 3; r++) await a.log.append([lineOf(r)])
    const held = await readWithin(a.log, 100, 5000)
    expect(held?.lines.length).toBeGreaterThan(0)
    const waiting = a.log.read(100)
    await a.log.close()
    expect(await waiting).toBeNull()
    expect(await a.log.read(100)).toBeNull()
    await expect(a.log.append([lineOf(9)])).rejects.toSatisfy((err) => isGatewayError(err, 'CSG_SPOOL_CLOSED'))
    // Handed back by close (nak), not after ack_wait.
    const startedAt = Date.now()
    expect((await drain(b.log, 3, 5000)).sort()).toEqual([lineOf(0), lineOf(1), lineOf(2)].sort())
    expect(Date.now() - startedAt).toBeLessThan(ACK_WAIT_MS)
  })

  it('a present consumer with another ack_wait stops the start with CSG_NATS_MISMATCH', async () => {
    await openNode('node-a')
    await expect(openNode('node-b', { ackWaitMs: ACK_WAIT_MS * 2 })).rejects.toSatisfy((err) => isGatewayError(err, 'CSG_NATS_MISMATCH') && /ack_wait/.test((err as Error).message))
  })
})
