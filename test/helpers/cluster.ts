// A cluster-mode rig for e2e tests: three real nats-servers (JetStream clustering on loopback), a
// real influxd, and gateway nodes as child processes (`citygw start` with NATS_URL), each with its
// own temp DATA_DIR and free ports. Provisioning goes through the `citygw` CLI with NATS_URL, as an
// operator would do it. close() stops every process and removes every dir.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawnGatewayProcess, type GatewayProcess } from './gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from './influxdb.ts'
import { startNatsCluster, type NatsCluster } from './nats.ts'
import { makeTempDir, removeTempDir } from './server-process.ts'
import { runCitygw, type CitygwResult } from './citygw.ts'
import { createTestKeyFile } from './data-key.ts'


export interface ClusterNodeProcess extends GatewayProcess {
  readonly name: string
  readonly dataDir: string
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>
}

export interface ClusterRig {
  readonly nats: NatsCluster
  readonly influx: InfluxDb1Server
  /** The environment every node and CLI call shares (NATS_URL, InfluxDB). */
  readonly env: Readonly<Record<string, string>>
  /** Starts a gateway node named `name` with extra environment. */
  startNode(name: string, env?: Record<string, string>, startArgs?: string[]): Promise<ClusterNodeProcess>
  /** Runs `citygw <args>` against the cluster. */
  citygw(args: string[], env?: Record<string, string>): Promise<{ code: number, stdout: string, stderr: string }>
  /** Registers devices through `citygw device import` (CSV); returns id → secret. */
  importDevices(devices: readonly { id: string, kind: string, district: string, group?: string }[]): Promise<Map<string, string>>
  addCrew(name: string, districts?: string[]): Promise<string>
  close(): Promise<void>
}

/** NATS_ACK_WAIT_MS of the rig's nodes. */
const CLUSTER_RIG_ACK_WAIT_MS = 5000

export async function startClusterRig (options: { env?: Record<string, string> } = {}): Promise<ClusterRig> {
  const [nats, influx] = await Promise.all([startNatsCluster({ nodes: 3 }), startInfluxDb1({ databases: ['city'] })])
  const scratch = await makeTempDir('csg-cluster-rig-')
  const nodes: ClusterNodeProcess[] = []
  const env = {
    NATS_URL: nats.urls.join(','),
    INFLUX_URL: influx.url,
    INFLUX_API: 'v1',
    INFLUX_DATABASE: 'city',
    INFLUX_FLUSH_MS: '50',
    // A killed node's telemetry goes to the others after this (30 s in production).
    NATS_ACK_WAIT_MS: String(CLUSTER_RIG_ACK_WAIT_MS),
    // Every node and the CLI share one key file (cluster mode requires it).
    DATA_KEY_FILE: await createTestKeyFile(scratch),
    ...options.env,
  }

  function citygw (args: string[], extra: Record<string, string> = {}): Promise<CitygwResult> {
    return runCitygw(args, { DATA_DIR: scratch, ...env, ...extra }, 60_000)
  }

  async function checked (args: string[]): Promise<string> {
    const result = await citygw(args)
    if (result.code !== 0) throw new Error(`citygw ${args.join(' ')} failed (${result.code}): ${result.stderr}`)
    return result.stdout
  }

  return {
    nats,
    influx,
    env,
    async startNode (name, extra = {}, startArgs = []) {
      const dataDir = await makeTempDir(`csg-node-${name}-`)
      const process = await spawnGatewayProcess({ ...env, NODE_NAME: name, DATA_DIR: dataDir, ...extra }, { startArgs })
      const node: ClusterNodeProcess = {
        ...process,
        name,
        dataDir,
        async stop () {
          if (process.child.exitCode === null && process.child.signalCode === null) process.child.kill('SIGTERM')
          return process.exited
        },
      }
      nodes.push(node)
      return node
    },
    citygw,
    async importDevices (devices) {
      const csv = join(scratch, `devices-${Date.now()}.csv`)
      await writeFile(csv, ['id,kind,district,lat,lon,group', ...devices.map((d) => `${d.id},${d.kind},${d.district},,,${d.group ?? ''}`)].join('\n') + '\n')
      const out = await checked(['device', 'import', csv])
      const secrets = new Map<string, string>()
      for (const line of out.trim().split('\n')) {
        const { id, secret } = JSON.parse(line) as { id: string, secret: string }
        secrets.set(id, secret)
      }
      return secrets
    },
    async addCrew (name, districts) {
      const out = await checked(['crew', 'add', name, '--json', ...(districts === undefined ? [] : ['--districts', districts.join(',')])])
      return (JSON.parse(out) as { secret: string }).secret
    },
    async close () {
      for (const node of nodes) node.child.kill('SIGKILL')
      await Promise.all(nodes.map((node) => node.exited))
      await Promise.all([nats.close(), influx.close()])
      await Promise.all([removeTempDir(scratch), ...nodes.map((node) => removeTempDir(node.dataDir))])
    },
  }
}
