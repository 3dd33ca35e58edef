// A private NATS JetStream cluster (Debian's /usr/sbin/nats-server) on 127.0.0.1 for the cluster
// demo and the bench: n servers routed to each other, each with its own store under `dir` and free
// ports. The tests start theirs from the same arguments (test/helpers/nats.ts).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freeLoopbackPort } from './free-port.ts'
import { stopChild } from './stop-child.ts'

export const NATS_SERVER_PATH = '/usr/sbin/nats-server'
const CLUSTER_NAME = 'citygw-local'

export interface NatsServerPorts { client: number, cluster: number, monitor: number }

/** nats-server arguments for server `index` of `all`; one server alone is a plain JetStream server. */
export function natsServerArgs (name: string, own: NatsServerPorts, all: readonly NatsServerPorts[], storeDir: string, auth?: { user: string, password: string }): string[] {
  const routes = all.filter(function others (p) { return p !== own }).map(function routeOf (p) { return `nats://127.0.0.1:${p.cluster}` })
  return [
    '-a', '127.0.0.1', '-p', String(own.client), '-m', String(own.monitor),
    '-js', '-sd', storeDir,
    '--server_name', name,
    ...(all.length === 1 ? [] : ['--cluster_name', CLUSTER_NAME, '--cluster', `nats://127.0.0.1:${own.cluster}`, '--routes', routes.join(',')]),
    ...(auth === undefined ? [] : ['--user', auth.user, '--pass', auth.password]),
  ]
}

interface MetaCluster { leader?: string, cluster_size?: number, error?: string }

/**
 * Polls /jsz of the given monitoring URLs until all name the same JetStream meta leader in a
 * cluster of `size` (before that, creating a replicated stream fails with "no leader"); a server
 * alone has no meta leader: until it answers.
 */
export async function waitForMetaLeader (monitorUrls: readonly string[], size: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: MetaCluster[] = []
  while (Date.now() < deadline) {
    last = await Promise.all(monitorUrls.map(async function readMeta (monitorUrl): Promise<MetaCluster> {
      try {
        const res = await fetch(`${monitorUrl}/jsz`, { signal: AbortSignal.timeout(1000) })
        return (await res.json() as { meta_cluster?: MetaCluster }).meta_cluster ?? {}
      } catch (err) {
        return { error: err instanceof Error ? err.message : String(err) }
      }
    }))
    if (size === 1 && last.every(function answered (meta) { return meta.error === undefined })) return
    const leader = last[0]?.leader
    const isAgreed = last.every(function agrees (meta) { return meta.cluster_size === size && meta.leader === leader })
    if (monitorUrls.length > 0 && isAgreed && leader !== undefined && leader !== '') return
    await sleep(100)
  }
  throw new Error(`nats-server cluster had no agreed JetStream meta leader after ${timeoutMs} ms; /jsz meta_cluster: ${JSON.stringify(last)}`)
}

export interface LocalNatsServer {
  readonly name: string
  readonly url: string
  readonly pid: number | undefined
  stop(): Promise<void>
}

export interface LocalNatsCluster {
  readonly urls: readonly string[]
  readonly servers: readonly LocalNatsServer[]
  /** Stops every server (SIGTERM, SIGKILL after 5 s); the stores stay under the dir. */
  close(): Promise<void>
}

export async function startLocalNatsCluster (dir: string, count: number): Promise<LocalNatsCluster> {
  if (!existsSync(NATS_SERVER_PATH)) throw new Error(`${NATS_SERVER_PATH} is missing (apt-get install nats-server)`)
  const ports: NatsServerPorts[] = []
  for (let i = 0; i < count; i++) ports.push({ client: await freeLoopbackPort(), cluster: await freeLoopbackPort(), monitor: await freeLoopbackPort() })
  const servers = await Promise.all(ports.map(async function startServer (own, index): Promise<LocalNatsServer> {
    const name = `nats-${index}`
    const storeDir = join(dir, name)
    await mkdir(storeDir, { recursive: true })
    let child: ChildProcess | undefined = spawn(NATS_SERVER_PATH, natsServerArgs(name, own, ports, storeDir), { stdio: 'ignore' })
    const exited = new Promise<void>(function onExit (resolve) { child?.once('exit', function done () { resolve() }) })
    function killNats (): void { child?.kill('SIGKILL') }
    process.on('exit', killNats)
    return {
      name,
      url: `nats://127.0.0.1:${own.client}`,
      get pid () { return child?.pid },
      async stop () {
        const running = child
        if (running === undefined) return
        child = undefined
        await stopChild(running, exited)
        // A run that starts many clusters (the bench) would pile up one listener per server otherwise.
        process.off('exit', killNats)
      },
    }
  }))
  const cluster: LocalNatsCluster = {
    urls: servers.map(function urlOf (s) { return s.url }),
    servers,
    async close () { await Promise.all(servers.map(function stopOne (s) { return s.stop() })) },
  }
  try {
    await waitForMetaLeader(ports.map(function monitorOf (p) { return `http://127.0.0.1:${p.monitor}` }), count, 20_000)
  } catch (err) {
    await cluster.close()
    throw err
  }
  return cluster
}
