// Telemetry logs of gateway "nodes" on a real 3-server nats-server cluster, for the cluster tests:
// each node its own connection; after each test every log and connection is closed and the stream
// deleted, so that each test creates it (and its consumer) with its own settings.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { TELEMETRY_STREAM } from '../../broker/cluster/names.ts'
import { openTelemetryLog, type TelemetryLog, type TelemetryLogOptions } from '../../broker/cluster/telemetry-log.ts'
import type { SpoolBatch } from '../../broker/spool/spool.ts'
import { telemetryLogDefaults } from './default-options.ts'
import { startNatsCluster, type NatsCluster } from './nats.ts'

/** ack_wait of the tests' consumer: short enough for failover within a test, long enough for a loaded 2-core machine. */
export const TEST_ACK_WAIT_MS = 2000

export interface LogNode { log: TelemetryLog, nc: NatsConnection }

export interface TelemetryLogCluster {
  readonly cluster: NatsCluster
  /** A manager on a connection of its own. */
  readonly jsm: JetStreamManager
  /** A node's log on a connection of its own (ack_wait TEST_ACK_WAIT_MS, 64 MiB stream, R3). */
  readonly openNode: (nodeName: string, overrides?: Partial<TelemetryLogOptions>) => Promise<LogNode>
  /** Messages in the telemetry stream (a confirmed ack removes its message a moment later). */
  readonly streamMessages: () => Promise<number>
}

/** Registers the suite's hooks: one cluster for the file, nodes and stream cleaned after each test. */
export function useTelemetryLogCluster (): TelemetryLogCluster {
  let cluster: NatsCluster | undefined
  let admin: NatsConnection | undefined
  let jsm: JetStreamManager | undefined
  const nodes: LogNode[] = []

  beforeAll(async () => {
    cluster = await startNatsCluster({ nodes: 3 })
    admin = await connectNats()
    jsm = await jetstreamManager(admin)
  })
  afterEach(async () => {
    const closing = nodes.splice(0)
    // Nodes close together, as they would (each waits for its last pull request to end).
    await Promise.all(closing.map((node) => node.log.close()))
    await Promise.all(closing.map((node) => node.nc.close()))
    await jsm?.streams.delete(TELEMETRY_STREAM).catch(() => false)
  })
  afterAll(async () => {
    await admin?.close()
    await cluster?.close()
  })

  async function connectNats (): Promise<NatsConnection> {
    if (cluster === undefined) throw new Error('cluster not started')
    return connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
  }

  function started<T> (value: T | undefined): T {
    if (value === undefined) throw new Error('cluster not started')
    return value
  }

  return {
    get cluster () { return started(cluster) },
    get jsm () { return started(jsm) },
    async openNode (nodeName, overrides = {}) {
      const nc = await connectNats()
      try {
        const log = await openTelemetryLog({
          ...telemetryLogDefaults, ackWaitMs: TEST_ACK_WAIT_MS, pullExpiresMs: 1000,
          nc, replicas: 3, nodeName, maxBytes: 64 * 1024 ** 2, log: pino({ level: 'silent' }), ...overrides,
        })
        nodes.push({ log, nc })
        return { log, nc }
      } catch (err) {
        await nc.close()
        throw err
      }
    },
    async streamMessages () {
      return (await started(jsm).streams.info(TELEMETRY_STREAM)).state.messages
    },
  }
}

export function lineOf (record: number, line = 0): string {
  return `lamp_post,device_id=lp-${record % 50},district=north lux=${record}.5,line=${line}i ${1_700_000_000_000 + record}`
}

/** Reads with a bound: resolves null if nothing came within `ms`. */
export function readWithin (log: TelemetryLog, maxLines: number, ms: number): Promise<SpoolBatch | null> {
  return log.read(maxLines, AbortSignal.timeout(ms))
}

/** Reads and commits until `count` lines came or `timeoutMs` passed; returns the lines. */
export async function drain (log: TelemetryLog, count: number, timeoutMs = 10_000): Promise<string[]> {
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
