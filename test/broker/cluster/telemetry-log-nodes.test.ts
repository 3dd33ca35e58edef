// Telemetry logs of several nodes (each its own connection) sharing the writers' consumer on a real
// 3-node nats-server cluster: the work is shared, a node that dies holding messages has them
// redelivered to the others after ack_wait, messages held past it are kept alive, what a stuck
// node fetched ahead goes back, and close hands back what a node held at once.
import { describe, expect, it } from 'vitest'
import type { TelemetryLog } from '../../../broker/cluster/telemetry-log.ts'
import { isGatewayError } from '../../../broker/errors.ts'
import type { SpoolBatch } from '../../../broker/spool/spool.ts'
import { drain, lineOf, readWithin, TEST_ACK_WAIT_MS, useTelemetryLogCluster } from '../../helpers/telemetry-log.ts'
import { eventually } from '../../helpers/wait.ts'

const logs = useTelemetryLogCluster()

describe('telemetry logs of two nodes on a 3-node JetStream cluster', () => {
  it('two nodes share the consumer; a node that dies holding messages has them redelivered to the other after ack_wait', async () => {
    // Little fetched ahead, so that one node cannot take the whole backlog in its first pulls.
    const a = await logs.openNode('node-a', { prefetchMessages: 10 })
    const b = await logs.openNode('node-b', { prefetchMessages: 10 })
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
    const taken = await drain(b.log, 20, TEST_ACK_WAIT_MS * 4)
    const failoverMs = Date.now() - diedAt
    expect(taken.sort()).toEqual(held.sort())
    expect(failoverMs).toBeGreaterThanOrEqual(TEST_ACK_WAIT_MS - 500)
    expect(failoverMs).toBeLessThan(TEST_ACK_WAIT_MS * 3)
    expect(b.log.stats().redeliveredMessages).toBeGreaterThan(0)
    await eventually(logs.streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
  })

  it('messages a writer holds past ack_wait (a long InfluxDB outage) are kept alive, not redelivered to another node', async () => {
    const a = await logs.openNode('node-a')
    const b = await logs.openNode('node-b')
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
    const stolen = await readWithin(b.log, 100, TEST_ACK_WAIT_MS * 2.5)
    expect(stolen).toBeNull()
    for (const batch of held) await a.log.commit(batch)
    await eventually(logs.streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
    expect(a.log.stats().redeliveredMessages).toBe(0)
    expect(b.log.stats().redeliveredMessages).toBe(0)
  })

  it('a node whose writer stops reading hands back what it fetched ahead after ack_wait, and keeps the batch it holds', async () => {
    const a = await logs.openNode('node-a')
    const b = await logs.openNode('node-b')
    await a.log.append([lineOf(0)])
    const held = await readWithin(a.log, 100, 5000) // a's writer is stuck writing this one
    if (held === null) throw new Error('node a read nothing')
    // Its writer read just now: a goes on fetching ahead for it.
    for (let r = 1; r <= 5; r++) await a.log.append([lineOf(r)])
    await eventually(() => a.log.stats().heldMessages, (n) => n === 6, { what: 'node a holding its batch and 5 fetched ahead', timeoutMs: 5000 })
    const startedAt = Date.now()
    const taken = await drain(b.log, 5, TEST_ACK_WAIT_MS * 4)
    expect(taken.sort()).toEqual([1, 2, 3, 4, 5].map((r) => lineOf(r)).sort())
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(TEST_ACK_WAIT_MS / 2) // handed back, not taken at once
    expect(a.log.stats().heldMessages).toBe(1)
    await a.log.commit(held)
    await eventually(logs.streamMessages, (n) => n === 0, { what: 'stream empty', timeoutMs: 5000 })
  })

  it('close: later appends reject with CSG_SPOOL_CLOSED and reads end with null; what the node held goes back at once', async () => {
    const a = await logs.openNode('node-a')
    const b = await logs.openNode('node-b')
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
    expect(Date.now() - startedAt).toBeLessThan(TEST_ACK_WAIT_MS)
  })
})
