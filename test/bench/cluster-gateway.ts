// The gateway under test in one topology of `npm run bench -- --cluster`, each with its own
// InfluxDB 1.x: a single node (its own spool and registry.json, as `npm run bench` runs it), or
// cluster mode on private nats-servers — one `citygw start`, or `citygw start --workers n` — with
// the devices imported into the cluster's registry bucket. Leaves what the phase measures with: the
// processes (for their CPU), the MQTT URL, the devices' secrets, and what is still to be written
// to InfluxDB (the spool's depth, or the telemetry stream's).
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats } from '../../broker/cluster/connection.ts'
import { TELEMETRY_STREAM } from '../../broker/cluster/names.ts'
import { openRegistryBucket } from '../../broker/cluster/registry-bucket.ts'
import { kvRegistryStore } from '../../broker/cluster/registry-kv-store.ts'
import { createLogger } from '../../broker/log.ts'
import { importDevices } from '../../broker/registry/provision.ts'
import type { RegistryTarget } from '../../broker/registry/registry-store.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { freeLoopbackPort } from '../../simulators/free-port.ts'
import { startLocalInfluxDb, type LocalInfluxDb } from '../../simulators/local-influxdb.ts'
import { startLocalNatsCluster, type LocalNatsCluster } from '../../simulators/local-nats.ts'
import { gatewayEnv, logProblems, startGateway, type LogProblems } from './gateway.ts'
import type { BenchDevice, LoadDevices } from './load-run.ts'
import { processTree, stopInReverse, type Stop } from './processes.ts'
import { metricValue, scrape } from './metrics.ts'
import { createTestKeyFile } from '../helpers/data-key.ts'

export interface Topology {
  /** Key of the phase in the JSON results. */
  readonly name: string
  /** Column heading of the table. */
  readonly label: string
  /** nats-servers started for the phase; 0 = a single node (no NATS_URL). */
  readonly natsServers: number
  /** NATS_REPLICAS (cluster mode only). */
  readonly replicas: number
  /** Gateway nodes: 1 = `citygw start`, more = `citygw start --workers n` (cluster mode only). */
  readonly workers: number
}

export interface Backlog {
  /** Spool records (one per MQTT message) on a single node; stream messages (a group commit each) in a cluster. */
  readonly units: number
  readonly bytes: number
}

export interface GatewayStopped {
  exitCode: number | null
  log: LogProblems
  /**
   * Records (MQTT messages) appended and the group commits that carried them — spool fsyncs, or
   * JetStream messages — over the whole run, all nodes together (from the stats each logs at close).
   */
  groupCommits: { records: number, commits: number }
}

/** What the spools or telemetry logs of the gateway's nodes said when they closed. */
function groupCommitsOf (lines: readonly Record<string, unknown>[]): GatewayStopped['groupCommits'] {
  let records = 0
  let commits = 0
  for (const line of lines) {
    if (line.msg !== 'spool closed' && line.msg !== 'telemetry log closed') continue
    records += typeof line.appendedRecords === 'number' ? line.appendedRecords : 0
    commits += typeof line.fsyncs === 'number' ? line.fsyncs : 0
  }
  return { records, commits }
}

export interface TopologyGateway {
  readonly influx: LocalInfluxDb
  readonly mqttUrl: string
  /** The load generator's devices with the secrets the registry issued. */
  readonly loadDevices: LoadDevices
  /** The process `npm start` runs (the primary with --workers): the load's broker pid. */
  readonly pid: number
  /** Processes whose CPU the phase measures, by group. */
  readonly pids: { readonly gateway: readonly number[], readonly nats: readonly { name: string, pid: number }[], readonly influxdb: number }
  /** What the gateway accepted and has not yet written to InfluxDB. */
  backlog(): Promise<Backlog>
  /** The nats-server leading the telemetry stream (it does more per reading than the others); null on a single node. */
  streamLeader(): Promise<string | null>
  /** The telemetry stream's last sequence number: messages (group commits) stored so far; null on a single node. */
  streamSequence(): Promise<number | null>
  /** Stops the gateway (SIGTERM; a primary stops its workers), then NATS and InfluxDB. */
  stop(): Promise<GatewayStopped>
}

const NODE_NAME = 'bench'
const OUTPUT_CLOSE_TIMEOUT_MS = 5000
const START_TIMEOUT_MS = 60_000

/** The names the nodes log with: `bench`, or `bench-w0` … for workers (cli/start.ts). */
function nodeNames (workers: number): string[] {
  return workers === 1 ? [NODE_NAME] : Array.from({ length: workers }, function workerName (_, i) { return `${NODE_NAME}-w${i}` })
}

function requirePid (pid: number | undefined, what: string): number {
  if (pid === undefined) throw new Error(`${what} has no process`)
  return pid
}

/** Imports `devices` into `target`; returns them with their secrets. */
async function provision (target: RegistryTarget, devices: readonly BenchDevice[]): Promise<LoadDevices> {
  const credentials = await importDevices(target, devices.map(function toJsonLine (d) { return JSON.stringify(d) }).join('\n'))
  const secretOf = new Map(credentials.map(function byId (c) { return [c.id, c.secret] as const }))
  return devices.map(function withSecret (d) {
    const secret = secretOf.get(d.id)
    if (secret === undefined) throw new Error(`no secret for ${d.id}`)
    return { id: d.id, kind: d.kind, secret }
  })
}

interface ClusterSide { nats: LocalNatsCluster, nc: NatsConnection, jsm: JetStreamManager, loadDevices: LoadDevices, env: NodeJS.ProcessEnv }

/** nats-servers, the registry bucket with the devices, and the gateway's NATS settings. */
async function startClusterSide (topology: Topology, devices: readonly BenchDevice[], dir: string, stops: Stop[]): Promise<ClusterSide> {
  const nats = await startLocalNatsCluster(join(dir, 'nats'), topology.natsServers)
  stops.push(function stopNats () { return nats.close() })
  const nc = await connectNats({ NATS_URL: [...nats.urls] }, 'citygw-bench', createLogger('silent'))
  stops.push(function closeNats () { return nc.close() })
  // The bucket gets the replicas the gateway will ask for: it refuses a bucket made with others.
  const bucket = await openRegistryBucket(nc, topology.replicas)
  const loadDevices = await provision(kvRegistryStore(bucket, createLogger('silent')), devices)
  return {
    nats,
    nc,
    jsm: await jetstreamManager(nc),
    loadDevices,
    // Cluster mode needs DATA_KEY_FILE, one file for every node (and worker).
    env: { NATS_URL: nats.urls.join(','), NATS_REPLICAS: String(topology.replicas), NODE_NAME, DATA_KEY_FILE: await createTestKeyFile(dir) },
  }
}

export async function startTopologyGateway (topology: Topology, devices: readonly BenchDevice[], dir: string): Promise<TopologyGateway> {
  const stops: Stop[] = []
  try {
    const influx = await startLocalInfluxDb(join(dir, 'influxdb'), 'city')
    stops.push(function stopInflux () { return influx.stop() })
    const dataDir = join(dir, 'gateway-data')
    const cluster = topology.natsServers === 0 ? undefined : await startClusterSide(topology, devices, dir, stops)
    const loadDevices = cluster?.loadDevices ?? await provision(registryPath(dataDir), devices)
    // Workers share the listening ports through their primary: give them fixed ones.
    const ports = topology.workers > 1 ? { MQTT_PORT: String(await freeLoopbackPort()), HTTP_PORT: String(await freeLoopbackPort()) } : {}
    const args = topology.workers > 1 ? ['--workers', String(topology.workers)] : []
    const gateway = startGateway(`gateway (${topology.label})`, { ...gatewayEnv(dataDir, influx.url), ...cluster?.env, ...ports }, args)
    stops.push(function stopGateway () { return gateway.stop(15_000) })
    const started = await Promise.all(nodeNames(topology.workers).map(function waitForNode (node) {
      return gateway.waitForLine<{ ports: { mqtt: number, http: number } }>(function isStarted (l) {
        return l.msg === 'gateway started' && (cluster === undefined || l.node === node)
      }, START_TIMEOUT_MS)
    }))
    const { mqtt, http } = (started[0] as { ports: { mqtt: number, http: number } }).ports
    const gatewayPids = await processTree(gateway.pid)
    if (gatewayPids.length !== 1 + (topology.workers > 1 ? topology.workers : 0)) {
      throw new Error(`expected ${topology.workers} gateway node(s), found processes ${gatewayPids.join(', ')}`)
    }
    return {
      influx,
      mqttUrl: `mqtt://127.0.0.1:${mqtt}`,
      loadDevices,
      pid: gateway.pid,
      pids: {
        gateway: gatewayPids,
        nats: cluster?.nats.servers.map(function pidOf (s) { return { name: s.name, pid: requirePid(s.pid, s.name) } }) ?? [],
        influxdb: requirePid(influx.pid, 'influxd'),
      },
      backlog: cluster === undefined
        ? async function spoolBacklog () { return spoolDepth(await scrape(`http://127.0.0.1:${http}`)) }
        : async function streamBacklog () {
          const { state } = await cluster.jsm.streams.info(TELEMETRY_STREAM)
          return { units: state.messages, bytes: state.bytes }
        },
      async streamLeader () {
        if (cluster === undefined) return null
        const info = await cluster.jsm.streams.info(TELEMETRY_STREAM)
        return info.cluster?.leader ?? cluster.nats.servers[0]?.name ?? null
      },
      async streamSequence () {
        if (cluster === undefined) return null
        return (await cluster.jsm.streams.info(TELEMETRY_STREAM)).state.last_seq
      },
      async stop () {
        await gateway.stop(15_000)
        // 'exit' can come before the last lines (the stats each node logs at close) are read; a
        // worker left behind would hold the output open, hence the bound.
        await Promise.race([gateway.closed, sleep(OUTPUT_CLOSE_TIMEOUT_MS, undefined, { ref: false })])
        const stopped = { exitCode: await gateway.exited, log: logProblems(gateway.lines()), groupCommits: groupCommitsOf(gateway.lines()) }
        await stopInReverse(stops, `cleanup (${topology.label})`)
        return stopped
      },
    }
  } catch (err) {
    await stopInReverse(stops, `cleanup (${topology.label})`)
    throw err
  }
}

function spoolDepth (metrics: string): Backlog {
  return { units: metricValue(metrics, 'citygw_spool_depth_records') ?? Number.NaN, bytes: metricValue(metrics, 'citygw_spool_depth_bytes') ?? Number.NaN }
}
