// `npm run bench -- --cluster`: the gateway's throughput in cluster mode (NATS JetStream) beside a
// single node measured in the same run, under the same load generator and settings. Each topology
// gets fresh processes: its own InfluxDB, nats-servers and gateway, all on 127.0.0.1 with free ports
// and temp dirs. Leaves: a table on stderr, one JSON object on stdout and in
// .bench/cluster-results.json. Figures only: nothing is asserted on timings; the exit code is 1 only
// if acknowledged readings are missing from InfluxDB (or the run itself failed).
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { NATS_SERVER_PATH } from '../../simulators/local-nats.ts'
import type { Topology } from './cluster-gateway.ts'
import { printClusterTable } from './cluster-report.ts'
import { buildClusterResults, figuresOf, replicationCosts } from './cluster-results.ts'
import { makeDevices } from './load-run.ts'
import { runTopology, type TopologyRun } from './phases/cluster.ts'
import { saveResults } from './results.ts'
import { say } from './say.ts'
import { CLUSTER_BENCH_DEFAULTS, readSettings } from './settings.ts'

/** In this order; the single node first, as the baseline of the others. */
export const TOPOLOGIES: readonly Topology[] = [
  { name: 'single', label: 'single node', natsServers: 0, replicas: 1, workers: 1 },
  { name: 'cluster-1-r1', label: 'cluster 1 node R1', natsServers: 1, replicas: 1, workers: 1 },
  { name: 'cluster-1-r3', label: 'cluster 1 node R3', natsServers: 3, replicas: 3, workers: 1 },
  { name: 'cluster-2-r1', label: '--workers 2 R1', natsServers: 1, replicas: 1, workers: 2 },
  { name: 'cluster-2-r3', label: '--workers 2 R3', natsServers: 3, replicas: 3, workers: 2 },
]

export async function runClusterBench (): Promise<void> {
  const settings = readSettings(CLUSTER_BENCH_DEFAULTS)
  if (!existsSync(NATS_SERVER_PATH)) throw new Error(`${NATS_SERVER_PATH} is missing: apt-get install nats-server (npm run bench installs it as root)`)
  const startedAt = new Date()
  const tmp = await mkdtemp(join(os.tmpdir(), 'citygw-cluster-bench-'))
  function interrupted (signal: string): void {
    // Every child (gateway, generator, nats-servers, influxd) is killed by its exit hook.
    say(`${signal}: stopping everything…`)
    void rm(tmp, { recursive: true, force: true, maxRetries: 3 }).finally(function exitAfterCleanup () { process.exit(130) })
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    const devices = makeDevices(settings.devices)
    const runs: TopologyRun[] = []
    for (const topology of TOPOLOGIES) runs.push(await runTopology(topology, devices, settings, tmp))
    const single = runs.find(function isSingle (r) { return r.topology.natsServers === 0 })
    const figures = runs.map(function figuresOfRun (run) { return figuresOf(run, single) })
    const costs = replicationCosts(runs, figures)
    printClusterTable(settings, runs, figures, costs)
    const wallSec = Math.round((Date.now() - startedAt.getTime()) / 1000)
    say(`whole run: ${wallSec} s`)
    await saveResults(buildClusterResults(settings, runs, figures, costs, startedAt, wallSec), 'cluster-results.json')
    // Not a timing assertion: an acknowledged reading missing after the drain is lost data.
    for (const [i, run] of runs.entries()) {
      const missing = figures[i]?.missing ?? 0
      if (missing === 0) continue
      say(`LOST DATA (${run.topology.label}): ${missing} acknowledged readings are not in InfluxDB${run.drainMs === null ? ' (the backlog had not drained either)' : ''}`)
      process.exitCode = 1
    }
  } finally {
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 })
  }
}
