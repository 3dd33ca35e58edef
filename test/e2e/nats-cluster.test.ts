// Groundwork for the cluster mode: a real 3-node nats-server cluster keeps an R3 JetStream stream
// writable while one node (the stream leader) is down, and a durable consumer then reads every
// batch of lines exactly once. The gateway itself is not involved.
import { AckPolicy, jetstream, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { eventually } from '../helpers/wait.ts'

const STREAM = 'READINGS'
const REPLICAS = 3
const LINES_PER_MESSAGE = 100
const MESSAGES_BEFORE = 1000
const MESSAGES_DURING_OUTAGE = 200
/** Publishes in flight at once, as a group-committing writer would pipeline its batches. */
const IN_FLIGHT = 32
/** A publish that meets a leader election is retried (same msg id) until this bound. */
const PUBLISH_DEADLINE_MS = 20_000

let retriedPublishes = 0

let cluster: NatsCluster | undefined
let nc: NatsConnection | undefined
beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
})
afterAll(async () => {
  await nc?.close()
  await cluster?.close()
})

/** 100 line-protocol lines; `seq` makes every line of the run unique, so loss and duplicates show. */
function batchBody (message: number): string {
  const lines: string[] = []
  for (let i = 0; i < LINES_PER_MESSAGE; i++) {
    const seq = message * LINES_PER_MESSAGE + i
    lines.push(`lamp_post,device_id=lp-${seq % 500} lux=${seq % 1000}.5,seq=${seq}i ${1_700_000_000_000_000_000n + BigInt(seq)}`)
  }
  return lines.join('\n')
}

/**
 * Publishes with the message number as Nats-Msg-Id and retries until acknowledged: a retry whose
 * first attempt was stored comes back `duplicate` and is not stored twice.
 */
async function publishBatch (js: JetStreamClient, message: number): Promise<PubAck> {
  const deadline = Date.now() + PUBLISH_DEADLINE_MS
  for (;;) {
    try {
      return await js.publish(`readings.batch.${message % 10}`, batchBody(message), { msgID: `batch-${message}` })
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`batch ${message} not acknowledged within ${PUBLISH_DEADLINE_MS} ms`, { cause: err })
      retriedPublishes++
      await new Promise(function pause (resolve) { setTimeout(resolve, 200) })
    }
  }
}

async function publishRange (js: JetStreamClient, from: number, to: number): Promise<PubAck[]> {
  const acks: PubAck[] = []
  let next = from
  async function worker (): Promise<void> {
    while (next < to) {
      const message = next++
      acks.push(await publishBatch(js, message))
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  return acks
}

/** Stream leader and replicas as the stream leader reports them. */
async function replicaSet (jsm: JetStreamManager): Promise<{ leader: string, peers: { name: string, current: boolean, offline: boolean }[] }> {
  const info = await jsm.streams.info(STREAM)
  expect(info.config.num_replicas).toBe(REPLICAS)
  return { leader: info.cluster?.leader ?? '', peers: info.cluster?.replicas ?? [] }
}

describe('NATS JetStream cluster (3 nodes)', () => {
  it('an R3 stream acknowledges batches through the loss of one node and loses or duplicates none', async () => {
    if (cluster === undefined || nc === undefined) throw new Error('cluster not started')
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc, { timeout: 2000 })
    await jsm.streams.add({ name: STREAM, subjects: ['readings.>'], num_replicas: REPLICAS, storage: StorageType.File })
    // Acks come once a quorum (2 of 3) has stored a message; all three replicas must be members.
    await eventually(() => replicaSet(jsm), (set) => set.leader !== '' && set.peers.length === REPLICAS - 1 && set.peers.every((p) => p.current),
      { what: 'stream leader and 2 current replicas', timeoutMs: 10_000 })

    const startedAt = performance.now()
    const acksBefore = await publishRange(js, 0, MESSAGES_BEFORE)
    const elapsedSec = (performance.now() - startedAt) / 1000
    console.log(`nats-cluster: ${MESSAGES_BEFORE * LINES_PER_MESSAGE} lines in ${MESSAGES_BEFORE} R${REPLICAS} publishes, ${IN_FLIGHT} in flight: ${Math.round(MESSAGES_BEFORE * LINES_PER_MESSAGE / elapsedSec)} lines/s`)
    expect(acksBefore).toHaveLength(MESSAGES_BEFORE)
    expect(acksBefore.every((ack) => ack.stream === STREAM && !ack.duplicate)).toBe(true)
    expect(new Set(acksBefore.map((ack) => ack.seq)).size).toBe(MESSAGES_BEFORE)
    await eventually(() => replicaSet(jsm), (set) => set.peers.length === REPLICAS - 1 && set.peers.every((p) => p.current),
      { what: 'both replicas caught up', timeoutMs: 10_000 })

    // The stream leader is the worst node to lose: publishes wait for a new election.
    const { leader } = await replicaSet(jsm)
    const victim = cluster.servers.find((server) => server.name === leader)
    if (victim === undefined) throw new Error(`stream leader ${leader} is none of ${cluster.servers.map((s) => s.name).join(', ')}`)
    await victim.stop()
    const outageAt = performance.now()
    const retriedBefore = retriedPublishes
    const acksDuring = await publishRange(js, MESSAGES_BEFORE, MESSAGES_BEFORE + MESSAGES_DURING_OUTAGE)
    expect(acksDuring).toHaveLength(MESSAGES_DURING_OUTAGE)
    expect(acksDuring.every((ack) => ack.stream === STREAM)).toBe(true)
    const during = await replicaSet(jsm)
    expect(during.leader).not.toBe(victim.name)
    console.log(`nats-cluster: stream leader ${victim.name} stopped; ${MESSAGES_DURING_OUTAGE} publishes acknowledged ${Math.round(performance.now() - outageAt)} ms later (${retriedPublishes - retriedBefore} retries, ${acksDuring.filter((ack) => ack.duplicate).length} duplicate acks), new leader ${during.leader}`)
    expect(during.peers.find((p) => p.name === victim.name)?.current).not.toBe(true)

    await victim.start()
    await eventually(() => replicaSet(jsm), (set) => set.peers.length === REPLICAS - 1 && set.peers.every((p) => p.current),
      { what: `${victim.name} caught up again`, timeoutMs: 20_000 })

    const total = MESSAGES_BEFORE + MESSAGES_DURING_OUTAGE
    const info = await jsm.streams.info(STREAM)
    expect(info.state.messages).toBe(total)

    await jsm.consumers.add(STREAM, { durable_name: 'check', ack_policy: AckPolicy.Explicit })
    const consumer = await js.consumers.get(STREAM, 'check')
    const streamSeqs = new Set<number>()
    const lineSeqs = new Set<number>()
    let lineCount = 0
    await eventually(async function drain () {
      const batch = await consumer.fetch({ max_messages: 200, expires: 1000 })
      for await (const msg of batch) {
        streamSeqs.add(msg.seq)
        for (const line of msg.string().split('\n')) {
          lineCount++
          const seq = /,seq=(\d+)i /.exec(line)?.[1]
          if (seq !== undefined) lineSeqs.add(Number(seq))
        }
        msg.ack()
      }
      return streamSeqs.size
    }, (received) => received >= total, { what: `${total} messages from the durable consumer`, timeoutMs: 20_000, intervalMs: 0 })

    expect(streamSeqs.size).toBe(total)
    expect(lineCount).toBe(total * LINES_PER_MESSAGE)
    expect(lineSeqs.size).toBe(total * LINES_PER_MESSAGE)
    expect(Math.max(...lineSeqs)).toBe(total * LINES_PER_MESSAGE - 1)
    await eventually(() => jsm.consumers.info(STREAM, 'check'), (ci) => ci.num_pending === 0 && ci.num_ack_pending === 0,
      { what: 'consumer with nothing pending', timeoutMs: 5000 })
  }, 120_000)
})
