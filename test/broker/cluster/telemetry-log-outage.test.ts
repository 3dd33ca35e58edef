// The telemetry log through the loss of NATS servers. One of three: the R3 stream keeps
// acknowledging (appends caught by the election are resent with the same message id). All three:
// appends are refused with CSG_NATS_UNAVAILABLE within their deadline and the log says it is
// unavailable; once the servers are back it acknowledges again by itself, a read that waited
// through the outage gets data, and every record acknowledged before is read back exactly once.
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { TELEMETRY_STREAM } from '../../../broker/cluster/names.ts'
import { openTelemetryLog, type TelemetryLog, type TelemetryLogOptions } from '../../../broker/cluster/telemetry-log.ts'
import type { SpoolBatch } from '../../../broker/spool/spool.ts'
import { isGatewayError } from '../../../broker/errors.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'
import { telemetryLogDefaults } from '../../helpers/default-options.ts'
import { eventually } from '../../helpers/wait.ts'

const APPEND_TIMEOUT_MS = 3000

let cluster: NatsCluster | undefined
let nc: NatsConnection | undefined
const logs: TelemetryLog[] = []
beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
})
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close()
  if (nc !== undefined) await (await jetstreamManager(nc)).streams.delete(TELEMETRY_STREAM).catch(() => false)
})
afterAll(async () => {
  for (const log of logs.splice(0)) await log.close()
  await nc?.close()
  await cluster?.close()
})

async function openLog (overrides: Partial<TelemetryLogOptions>): Promise<TelemetryLog> {
  if (nc === undefined) throw new Error('not connected')
  const log = await openTelemetryLog({ ...telemetryLogDefaults, nc, replicas: 3, nodeName: 'node-a', maxBytes: 64 * 1024 ** 2, log: pino({ level: 'silent' }), pullExpiresMs: 1000, ...overrides })
  logs.push(log)
  return log
}

function lineOf (record: number): string {
  return `manhole,device_id=mh-${record % 20},district=south coverAngle=${record % 180}i ${1_700_000_000_000 + record}`
}

/**
 * Commits as the writer does: a commit JetStream did not confirm in time is logged and the writer
 * reads on (the log sends the acks again). Its lines are returned: they may be delivered again.
 */
async function commitAsTheWriter (log: TelemetryLog, batch: SpoolBatch): Promise<readonly string[]> {
  try {
    await log.commit(batch)
    return []
  } catch (err) {
    if (!isGatewayError(err, 'CSG_NATS_UNAVAILABLE')) throw err
    log.rewind()
    return batch.lines
  }
}

/** Reads and commits until every expected line came (or the deadline); adds to `read` and `unconfirmed`. */
async function readUntil (log: TelemetryLog, expected: readonly string[], timeoutMs: number, read: string[] = [], unconfirmed = new Set<string>()): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  while (!expected.every((line) => read.includes(line)) && Date.now() < deadline) {
    const batch = await log.read(1000, AbortSignal.timeout(Math.max(1, deadline - Date.now())))
    if (batch === null) break
    read.push(...batch.lines)
    for (const line of await commitAsTheWriter(log, batch)) unconfirmed.add(line)
  }
  return read
}

describe('telemetry log with NATS servers down', () => {
  it('an R3 stream keeps acknowledging with its leader stopped, and everything is read back once', async () => {
    if (cluster === undefined || nc === undefined) throw new Error('cluster not started')
    const log = await openLog({ appendTimeoutMs: 15_000 })
    for (let r = 0; r < 10; r++) await log.append([lineOf(r)])
    const leader = (await (await jetstreamManager(nc)).streams.info(TELEMETRY_STREAM)).cluster?.leader
    const victim = cluster.servers.find((server) => server.name === leader) ?? cluster.servers[0]
    if (victim === undefined) throw new Error('no server')
    await victim.stop()
    try {
      // Appends made during the election are resent with the same message id until acknowledged.
      await Promise.all(Array.from({ length: 100 }, (_, i) => log.append([lineOf(10 + i)])))
      expect(log.stats().appendedRecords).toBe(110)
      const expected = Array.from({ length: 110 }, (_, r) => lineOf(r))
      const read = await readUntil(log, expected, 15_000)
      expect(read.sort()).toEqual(expected.sort())
    } finally {
      await victim.start()
    }
  }, 40_000)

  it('all three stopped: refuses appends with CSG_NATS_UNAVAILABLE within the deadline (at once beyond the pending bytes cap), resumes by itself, and loses nothing acknowledged', async () => {
    if (cluster === undefined) throw new Error('cluster not started')
    const servers = cluster.servers
    const log = await openLog({ appendTimeoutMs: APPEND_TIMEOUT_MS, attemptTimeoutMs: 500, ackWaitMs: 5000, maxPendingBytes: 64 * 1024 })
    const acknowledged: string[] = []
    for (let r = 0; r < 50; r++) {
      await log.append([lineOf(r)])
      acknowledged.push(lineOf(r))
    }
    // A writer waiting for data when the servers go.
    const waitingRead = log.read(1000, AbortSignal.timeout(40_000))

    await Promise.all(servers.map((server) => server.stop()))
    let outageEnded = false
    try {
      const startedAt = Date.now()
      const waiting = log.append([lineOf(1000)]).then(() => undefined, (err: unknown) => err)
      // Memory stays bounded meanwhile: past 64 KiB awaiting acknowledgement, appends are refused at once.
      const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => {
        const sentAt = Date.now()
        return log.append([lineOf(3000 + i).padEnd(1000, '0')]).then(() => ({ err: undefined as unknown, ms: 0 }), (err: unknown) => ({ err, ms: Date.now() - sentAt }))
      }).slice(70))
      for (const refused of burst) {
        expect(isGatewayError(refused.err, 'CSG_NATS_UNAVAILABLE')).toBe(true)
        expect(refused.ms).toBeLessThan(100)
      }
      expect(log.stats().pendingBytes).toBeLessThanOrEqual(64 * 1024)
      const refusal = await waiting
      const elapsedMs = Date.now() - startedAt
      expect(isGatewayError(refusal, 'CSG_NATS_UNAVAILABLE')).toBe(true)
      expect(elapsedMs).toBeGreaterThanOrEqual(APPEND_TIMEOUT_MS / 2)
      expect(elapsedMs).toBeLessThan(APPEND_TIMEOUT_MS + 2000)
      expect(log.available()).toBe(false)
      expect(log.stats().available).toBe(false)

      await Promise.all(servers.map((server) => server.start()))
      outageEnded = true
    } finally {
      if (!outageEnded) await Promise.all(servers.filter((s) => !s.isRunning).map((server) => server.start()))
    }

    // Appends succeed again without anything done to the log (the client reconnects by itself). After
    // all three restart, nats-server 2.9 usually elects the stream's leader within 2 s, once in a few
    // dozen runs here only after more than 25 s.
    let after = 2000
    await eventually(async function appendAgain () {
      const record = after++
      await log.append([lineOf(record)])
      acknowledged.push(lineOf(record))
      return true
    }, (ok) => ok, { what: 'an append acknowledged after the restart', timeoutMs: 45_000, intervalMs: 200 })
    await eventually(() => log.available(), (isAvailable) => isAvailable, { what: 'available again', timeoutMs: 5000 })

    const first = await waitingRead
    if (first === null) throw new Error('the read waiting through the outage ended without data')
    // Right after the restart the consumer may still have no leader to confirm acknowledgements.
    const unconfirmed = new Set(await commitAsTheWriter(log, first))
    const read = await readUntil(log, acknowledged, 15_000, [...first.lines], unconfirmed)
    expect(acknowledged.filter((line) => !read.includes(line))).toEqual([])
    // Read once; more often only if its commit was not confirmed in time and JetStream redelivered it.
    for (const line of acknowledged) {
      const times = read.filter((l) => l === line).length
      if (unconfirmed.has(line)) expect(times).toBeGreaterThanOrEqual(1)
      else expect(times).toBe(1)
    }
    // Acknowledgements not confirmed at first are confirmed in the background: the node lets go of everything.
    await eventually(() => log.stats().heldMessages, (n) => n === 0, { what: 'nothing held', timeoutMs: 30_000 })
    // The refused record may have been stored after all (the client sent its buffered publish on
    // reconnecting): the device resends it, so at most a duplicate, never a loss.
    expect(read.filter((l) => l === lineOf(1000)).length).toBeLessThanOrEqual(1)
  }, 90_000)
})
