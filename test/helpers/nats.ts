// A real NATS JetStream cluster (Debian's /usr/sbin/nats-server) for e2e tests: n nodes on
// 127.0.0.1, each with its own temp store dir and free client, cluster and monitoring ports.
// startNatsCluster() resolves once every node sees the same JetStream meta leader; a node can be
// stopped and started again on the same dir and ports; close() kills every node and removes its dir.
// useNatsConnections() gives a test file one node and connections to it.
import { join } from 'node:path'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll } from 'vitest'
import { natsServerArgs, waitForMetaLeader as waitForMonitors } from '../../simulators/local-nats.ts'
import { restartablePort } from './ports.ts'
import { launchServer, makeTempDir, requireBinary, startRestartable, type RestartableServer, type ServerProcess } from './server-process.ts'

const NATS_SERVER = '/usr/sbin/nats-server'

export interface NatsNode {
  /** The node's server name, e.g. `n0`; JetStream names stream peers by it. */
  readonly name: string
  /** Client URL, e.g. nats://127.0.0.1:40123 */
  readonly url: string
  /** Monitoring base URL (/varz, /jsz). */
  readonly monitorUrl: string
  readonly isRunning: boolean
  /** Stops the node (SIGTERM), keeping its store dir and ports. */
  stop(): Promise<void>
  /** Starts it again on the same store dir and ports; resolves once it sees a meta leader. */
  start(): Promise<void>
}

export interface NatsCluster {
  /** Client URLs of every node, running or not. */
  readonly urls: readonly string[]
  readonly servers: readonly NatsNode[]
  /** Stops every node and removes their dirs. */
  close(): Promise<void>
}

export interface NatsClusterOptions {
  /** Number of nodes. Default 3 (the smallest cluster that keeps an R3 stream through one loss). */
  nodes?: number
  /** Bound on waiting for a meta leader, at start-up and after start(). Default 20000. */
  readyTimeoutMs?: number
  /** Clients must sign in with this user and password. Default: no authentication. */
  auth?: { user: string, password: string }
}

interface NodePorts { client: number, cluster: number, monitor: number }

/** Launch attempts: a free port can be taken by another test's server before nats-server binds it. */
const MAX_ATTEMPTS = 3

export async function startNatsCluster (options: NatsClusterOptions = {}): Promise<NatsCluster> {
  requireBinary(NATS_SERVER, 'nats-server')
  const count = options.nodes ?? 3
  for (let attempt = 1; ; attempt++) {
    const ports: NodePorts[] = []
    for (let i = 0; i < count; i++) ports.push({ client: await restartablePort(), cluster: await restartablePort(), monitor: await restartablePort() })
    try {
      return await startOnPorts(options, ports)
    } catch (err) {
      // Every node's routes name every other node's cluster port: a lost port means new ports for all.
      if (attempt >= MAX_ATTEMPTS || !/address already in use/.test(String((err as Error).message))) throw err
    }
  }
}

async function startOnPorts (options: NatsClusterOptions, ports: readonly NodePorts[]): Promise<NatsCluster> {
  const count = ports.length
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000

  const restartables: RestartableServer[] = []
  const nodes: NatsNode[] = []
  async function closeAll (): Promise<void> {
    await Promise.all(restartables.map(function closeNode (node) { return node.close() }))
  }

  try {
    // Launched together: a node alone has no quorum, so none could become ready one at a time.
    const launching = ports.map(async function startNode (own, index) {
      const name = `n${index}`
      const dir = await makeTempDir(`csg-nats-${name}-`)
      const monitorUrl = `http://127.0.0.1:${own.monitor}`
      const args = natsServerArgs(name, own, ports, join(dir, 'store'), options.auth)
      function launch (): Promise<ServerProcess> {
        return launchServer(NATS_SERVER, args, `nats-server ${name}`, dir, async function isListening () {
          const res = await fetch(`${monitorUrl}/varz`, { signal: AbortSignal.timeout(1000) })
          await res.arrayBuffer()
          return res.ok
        })
      }
      const server = await startRestartable(dir, launch)
      restartables.push(server)
      const node: NatsNode = {
        name,
        url: `nats://127.0.0.1:${own.client}`,
        monitorUrl,
        get isRunning () { return server.isRunning },
        stop () { return server.stop() },
        async start () {
          await server.start()
          await waitForMetaLeader(nodes, count, readyTimeoutMs)
        },
      }
      return node
    })
    const settled = await Promise.allSettled(launching)
    const failed = settled.find((result) => result.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    for (const result of settled) if (result.status === 'fulfilled') nodes.push(result.value)
    await waitForMetaLeader(nodes, count, readyTimeoutMs)
  } catch (err) {
    await closeAll()
    throw err
  }

  return {
    urls: nodes.map((node) => node.url),
    servers: nodes,
    close: closeAll,
  }
}

/** Waits until the running nodes agree on a JetStream meta leader (see simulators/local-nats.ts). */
async function waitForMetaLeader (nodes: readonly NatsNode[], size: number, timeoutMs: number): Promise<void> {
  await waitForMonitors(nodes.filter((node) => node.isRunning).map((node) => node.monitorUrl), size, timeoutMs)
}

/**
 * A one-node nats-server for the tests of one file, with `count` connections to it: started before
 * the file's tests, closed after them. The array is filled once they start.
 */
export function useNatsConnections (count: number): NatsConnection[] {
  const connections: NatsConnection[] = []
  let cluster: NatsCluster | undefined
  beforeAll(async () => {
    cluster = await startNatsCluster({ nodes: 1 })
    for (let i = 0; i < count; i++) connections.push(await connect({ servers: [...cluster.urls] }))
  }, 60_000)
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close()))
    await cluster?.close()
  })
  return connections
}
