// The telemetry log of one node on a real 3-node nats-server cluster: an R3 work-queue stream and
// the writers' consumer created as asked; appends acknowledged in group commits, read back whole,
// removed on commit, handed back on rewind, never handed out twice; full stream, oversized record, a
// consumer with other settings. Several nodes: telemetry-log-nodes.test.ts; servers going down:
// telemetry-log-outage.test.ts.
import { describe, expect, it } from 'vitest'
import { WRITER_CONSUMER, TELEMETRY_STREAM } from '../../../broker/cluster/names.ts'
import { isGatewayError } from '../../../broker/errors.ts'
import type { SpoolBatch } from '../../../broker/spool/spool.ts'
import { telemetryLogDefaults } from '../../helpers/default-options.ts'
import { drain, lineOf, readWithin, TEST_ACK_WAIT_MS, useTelemetryLogCluster } from '../../helpers/telemetry-log.ts'
import { eventually } from '../../helpers/wait.ts'

const logs = useTelemetryLogCluster()

describe('telemetry log of one node on a 3-node JetStream cluster', () => {
  it('creates an R3 work-queue stream and the writers\' consumer; acknowledges concurrent appends in fewer messages; reads them back whole; commit empties the stream', async () => {
    const { log } = await logs.openNode('node-a')
    const info = await logs.jsm.streams.info(TELEMETRY_STREAM)
    expect(info.config).toMatchObject({ num_replicas: 3, retention: 'workqueue', discard: 'new', storage: 'file', max_bytes: 64 * 1024 ** 2, duplicate_window: 120_000_000_000 })
    const consumer = await logs.jsm.consumers.info(TELEMETRY_STREAM, WRITER_CONSUMER)
    expect(consumer.config).toMatchObject({ ack_policy: 'explicit', ack_wait: TEST_ACK_WAIT_MS * 1_000_000, max_ack_pending: telemetryLogDefaults.maxAckPending, max_deliver: -1 })

    const records = 2000
    await Promise.all(Array.from({ length: records }, (_, r) => log.append([lineOf(r, 0), lineOf(r, 1)])))
    const afterAppends = log.stats()
    expect(afterAppends.appendedRecords).toBe(records)
    expect(afterAppends.fsyncs).toBeGreaterThan(0)
    expect(afterAppends.fsyncs).toBeLessThan(records / 10) // group commit: many appends per message
    expect(await logs.streamMessages()).toBe(afterAppends.fsyncs)
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
    await eventually(logs.streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
    await eventually(() => log.stats(), (s) => s.depthRecords === 0 && s.depthBytes === 0 && s.oldestRecordAgeMs === null, { what: 'empty depth in stats', timeoutMs: 5000 })
    expect(log.stats().heldMessages).toBe(0)
  })

  it('rewind hands the read batch back: the same lines are read again, and stay in the stream until committed', async () => {
    const { log } = await logs.openNode('node-a')
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
    await eventually(logs.streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
    // A batch handed back cannot be committed any more: its messages belong to the new reads.
    await expect(log.commit(first as SpoolBatch)).rejects.toThrow(/rewound/)
  })

  it('a message JetStream sends again while the node still holds it (its keep-alives lost) is dropped: read once, committed once', async () => {
    const { log } = await logs.openNode('node-a')
    for (let r = 0; r < 5; r++) await log.append([lineOf(r)])
    const held: SpoolBatch[] = []
    while (held.reduce((sum, batch) => sum + batch.lines.length, 0) < 5) {
      const batch = await readWithin(log, 100, 5000)
      if (batch === null) throw new Error('nothing read')
      held.push(batch)
    }
    // ack_wait runs out behind the node's back, as when its keep-alives cannot reach the consumer.
    await logs.jsm.consumers.update(TELEMETRY_STREAM, WRITER_CONSUMER, { ack_wait: 150 * 1_000_000 })
    expect(await readWithin(log, 100, 2000)).toBeNull()
    expect(log.stats().redeliveredMessages).toBeGreaterThanOrEqual(5)
    expect(log.stats().duplicateDeliveries).toBe(log.stats().redeliveredMessages)
    for (const batch of held) await log.commit(batch)
    await eventually(logs.streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
    expect(log.stats().heldMessages).toBe(0)
  })

  it('a full stream refuses appends with CSG_SPOOL_FULL, and takes them again once a writer committed', async () => {
    const { log } = await logs.openNode('node-a', { maxBytes: 64 * 1024 })
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
    // The replicas drop acknowledged messages a moment after the commit: a device whose append was
    // refused sends again, and within seconds it is taken.
    async function appendOnce (): Promise<'taken' | 'full'> {
      try {
        await log.append(record)
        return 'taken'
      } catch (err) {
        if (isGatewayError(err, 'CSG_SPOOL_FULL')) return 'full'
        throw err
      }
    }
    const retried = await eventually(appendOnce, (outcome) => outcome === 'taken', { timeoutMs: 10_000, intervalMs: 200, what: 'an append after the commit' })
    expect(retried).toBe('taken')
  })

  it('a record larger than the largest message is refused at once with CSG_PAYLOAD_TOO_LARGE, and the log stays available', async () => {
    const { log } = await logs.openNode('node-a', { maxMessageBytes: 4096 })
    const startedAt = Date.now()
    await expect(log.append([lineOf(0).padEnd(5000, '0')])).rejects.toSatisfy((err) => isGatewayError(err, 'CSG_PAYLOAD_TOO_LARGE'))
    expect(Date.now() - startedAt).toBeLessThan(100)
    expect(log.available()).toBe(true)
    await log.append([lineOf(1)])
    expect(await drain(log, 1)).toEqual([lineOf(1)])
  })

  it('a present consumer with another ack_wait stops the start with CSG_NATS_MISMATCH', async () => {
    await logs.openNode('node-a')
    await expect(logs.openNode('node-b', { ackWaitMs: TEST_ACK_WAIT_MS * 2 })).rejects.toSatisfy((err) => isGatewayError(err, 'CSG_NATS_MISMATCH') && /ack_wait/.test((err as Error).message))
  })
})
