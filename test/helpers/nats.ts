// A real NATS JetStream cluster (Debian's /usr/sbin/nats-server) for e2e tests: n nodes on
// 127.0.0.1, each with its own temp store dir and free client, cluster and monitoring ports.
// startNatsCluster() resolves once every node sees the same JetStream meta leader; a node can be
// stopped and started again on the same dir and ports; close() kills every node and removes its dir.
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './ports.ts'
import { launchServer, makeTempDir, requireBinary, startRestartable, type RestartableServer, type ServerProcess } from './server-process.ts'

const NATS_SERVER = '/usr/sbin/nats-server'
const CLUSTER_NAME = 'csg-test'

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

interface MetaCluster { leader?: string, cluster_size?: number, error?: string }

export async function startNatsCluster (options: NatsClusterOptions = {}): Promise<NatsCluster> {
  requireBinary(NATS_SERVER, 'nats-server')
  const count = options.nodes ?? 3
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000
  const ports: NodePorts[] = []
  for (let i = 0; i < count; i++) ports.push({ client: await freePort(), cluster: await freePort(), monitor: await freePort() })

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
      const routes = ports.filter((other) => other !== own).map((other) => `nats://127.0.0.1:${other.cluster}`)
      const args = [
        '-a', '127.0.0.1', '-p', String(own.client), '-m', String(own.monitor),
        '-js', '-sd', join(dir, 'store'),
        '--server_name', name,
        // One node is a plain JetStream server: a cluster of one has no routes to agree over.
        ...(count === 1 ? [] : ['--cluster_name', CLUSTER_NAME, '--cluster', `nats://127.0.0.1:${own.cluster}`, '--routes', routes.join(',')]),
        ...(options.auth === undefined ? [] : ['--user', options.auth.user, '--pass', options.auth.password]),
      ]
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

/**
 * Polls /jsz of every running node until all name the same meta leader in a cluster of `size`.
 * Clients can then create R3 streams; before that the JetStream API answers "no leader".
 */
async function waitForMetaLeader (nodes: readonly NatsNode[], size: number, timeoutMs: number): Promise<void> {
  if (size === 1) return // no meta group: ready once listening
  const deadline = Date.now() + timeoutMs
  let last: MetaCluster[] = []
  while (Date.now() < deadline) {
    const running = nodes.filter((node) => node.isRunning)
    last = await Promise.all(running.map(async function readMeta (node): Promise<MetaCluster> {
      try {
        const res = await fetch(`${node.monitorUrl}/jsz`, { signal: AbortSignal.timeout(1000) })
        return (await res.json() as { meta_cluster?: MetaCluster }).meta_cluster ?? {}
      } catch (err) {
        return { error: err instanceof Error ? err.message : String(err) }
      }
    }))
    const leader = last[0]?.leader
    const isAgreed = last.every((meta) => meta.cluster_size === size && meta.leader === leader)
    if (running.length > 0 && isAgreed && leader !== undefined && leader !== '') return
    await sleep(100)
  }
  throw new Error(`nats-server cluster had no agreed JetStream meta leader after ${timeoutMs} ms; /jsz meta_cluster of running nodes: ${JSON.stringify(last)}`)
}
