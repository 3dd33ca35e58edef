// The telemetry log through the loss of every NATS server: appends are refused with
// CSG_NATS_UNAVAILABLE within their deadline and the log says it is unavailable; once the servers
// are back it acknowledges again by itself, a read that waited through the outage gets data, and
// every record acknowledged before the outage is read back exactly once.
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openTelemetryLog, type TelemetryLog } from '../../../broker/cluster/telemetry-log.ts'
import { isGatewayError } from '../../../broker/errors.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'
import { telemetryLogDefaults } from '../../helpers/default-options.ts'
import { eventually } from '../../helpers/wait.ts'

const APPEND_TIMEOUT_MS = 3000

let cluster: NatsCluster | undefined
let nc: NatsConnection | undefined
let log: TelemetryLog | undefined
beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
})
afterAll(async () => {
  await log?.close()
  await nc?.close()
  await cluster?.close()
})

function lineOf (record: number): string {
  return `manhole,device_id=mh-${record % 20},district=south coverAngle=${record % 180}i ${1_700_000_000_000 + record}`
}

describe('telemetry log with every NATS server down', () => {
  it('refuses appends with CSG_NATS_UNAVAILABLE within the deadline, resumes by itself, and loses nothing acknowledged', async () => {
    if (cluster === undefined || nc === undefined) throw new Error('cluster not started')
    const servers = cluster.servers
    log = await openTelemetryLog({
      ...telemetryLogDefaults, nc, replicas: 3, nodeName: 'node-a', maxBytes: 64 * 1024 ** 2, log: pino({ level: 'silent' }),
      appendTimeoutMs: APPEND_TIMEOUT_MS, attemptTimeoutMs: 500, pullExpiresMs: 1000, ackWaitMs: 5000,
    })
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
      const refusal = await log.append([lineOf(1000)]).then(() => undefined, (err: unknown) => err)
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

    // Appends succeed again without anything done to the log (the client reconnects by itself).
    let after = 2000
    await eventually(async function appendAgain () {
      const record = after++
      await log?.append([lineOf(record)])
      acknowledged.push(lineOf(record))
      return true
    }, (ok) => ok, { what: 'an append acknowledged after the restart', timeoutMs: 25_000, intervalMs: 200 })
    await eventually(() => log?.available(), (isAvailable) => isAvailable === true, { what: 'available again', timeoutMs: 5000 })

    const read: string[] = []
    const first = await waitingRead
    if (first === null) throw new Error('the read waiting through the outage ended without data')
    read.push(...first.lines)
    await log.commit(first)
    const deadline = Date.now() + 15_000
    while (!acknowledged.every((line) => read.includes(line)) && Date.now() < deadline) {
      const batch = await log.read(1000, AbortSignal.timeout(Math.max(1, deadline - Date.now())))
      if (batch === null) break
      read.push(...batch.lines)
      await log.commit(batch)
    }
    const missing = acknowledged.filter((line) => !read.includes(line))
    expect(missing).toEqual([])
    for (const line of acknowledged) expect(read.filter((l) => l === line)).toHaveLength(1)
    // The refused record may have been stored after all (its publish was buffered by the client):
    // the device resends it, so at most a duplicate, never a loss.
    expect(read.filter((l) => l === lineOf(1000)).length).toBeLessThanOrEqual(1)
  }, 60_000)
})
