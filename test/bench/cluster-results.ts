// The figures of `npm run bench -- --cluster`, derived per topology (CPU µs per reading, against the
// single node, whether the load generator was the limit) and across topologies (what replication
// costs: R3 against R1 with the same gateway processes); laid out as JSON for stdout and
// .bench/cluster-results.json.
import os from 'node:os'
import { cpuMicrosPerMessage } from './cpu.ts'
import type { LoadRun } from './load-run.ts'
import type { TopologyRun } from './phases/cluster.ts'
import { gitDescription } from './results.ts'
import { GENERATOR_CPU_LIMIT_PERCENT, KINDS, type Settings } from './settings.ts'

export interface TopologyFigures {
  /** False when a load generator used more than GENERATOR_CPU_LIMIT_PERCENT of a core: it may have been the limit. */
  isValid: boolean
  /** Acknowledged readings that InfluxDB does not have after the drain. */
  missing: number
  /** Acked readings/s over the single node's (null when either phase is invalid). */
  toSingleNode: number | null
  /** µs of one core per acknowledged reading. */
  micros: {
    gateway: number | null
    /** All nats-servers together: every replica's work. */
    nats: number | null
    natsLeader: number | null
    /** The average of the others. */
    natsFollower: number | null
    gatewayAndNats: number | null
    influxdb: number | null
    generator: number | null
  }
  /** % of one core that processes outside this bench used meanwhile (machine busy − ours); another user's tests show here. */
  othersCpuPercent: number | null
}

/** R3 against R1 with the same gateway processes. */
export interface ReplicationCost {
  label: string
  r1: string
  r3: string
  /** R3 acked/s ÷ R1 acked/s. */
  throughput: number | null
  p50Ms: { r1: number, r3: number }
  p99Ms: { r1: number, r3: number }
  /** Gateway + nats-servers, µs per reading. */
  micros: { r1: number | null, r3: number | null }
}

/** Whether every load generator stayed within GENERATOR_CPU_LIMIT_PERCENT of a core (none of them was the limit). */
export function isGeneratorWithinLimit (load: LoadRun): boolean {
  return load.generatorCpuPercents.every(function withinLimit (percent) { return percent <= GENERATOR_CPU_LIMIT_PERCENT })
}

function sumOrNull (values: readonly (number | null)[]): number | null {
  let sum = 0
  for (const value of values) {
    if (value === null) return null
    sum += value
  }
  return sum
}

export function figuresOf (run: TopologyRun, single: TopologyRun | undefined): TopologyFigures {
  const { load, cpu } = run
  const rate = load.ackedPerSec
  const isValid = isGeneratorWithinLimit(load)
  const natsNames = Object.keys(cpu.nats)
  const natsPercent = natsNames.length === 0 ? null : sumOrNull(Object.values(cpu.nats))
  const leader = run.streamLeader === null ? undefined : cpu.nats[run.streamLeader]
  const followers = natsNames.filter(function isFollower (name) { return name !== run.streamLeader }).map(function percentOf (name) { return cpu.nats[name] ?? null })
  const followersPercent = followers.length === 0 ? null : sumOrNull(followers)
  const gatewayAndNats = natsPercent === null && natsNames.length > 0 ? null : sumOrNull([cpu.gateway, natsPercent ?? 0])
  const ours = sumOrNull([cpu.gateway, natsPercent ?? 0, cpu.influxdb, cpu.runner, load.generatorCpuPercent])
  const machineOneCorePercent = load.machineCpuPercent === null ? null : load.machineCpuPercent * os.cpus().length
  const singleIsValid = single !== undefined && isGeneratorWithinLimit(single.load)
  return {
    isValid,
    missing: Math.max(0, load.acked - run.stored.total),
    toSingleNode: isValid && singleIsValid && single.load.ackedPerSec > 0 ? Math.round((rate / single.load.ackedPerSec) * 100) / 100 : null,
    micros: {
      gateway: cpuMicrosPerMessage(cpu.gateway, rate),
      nats: cpuMicrosPerMessage(natsPercent, rate),
      natsLeader: cpuMicrosPerMessage(leader ?? null, rate),
      natsFollower: followersPercent === null ? null : cpuMicrosPerMessage(followersPercent / followers.length, rate),
      gatewayAndNats: cpuMicrosPerMessage(gatewayAndNats, rate),
      influxdb: cpuMicrosPerMessage(cpu.influxdb, rate),
      generator: cpuMicrosPerMessage(load.generatorCpuPercent, rate),
    },
    othersCpuPercent: machineOneCorePercent === null || ours === null ? null : Math.max(0, Math.round(machineOneCorePercent - ours)),
  }
}

/** R3 against R1 for each number of gateway processes measured with both. */
export function replicationCosts (runs: readonly TopologyRun[], figures: readonly TopologyFigures[]): ReplicationCost[] {
  const costs: ReplicationCost[] = []
  runs.forEach(function pairUp (r3, i3) {
    if (r3.topology.replicas !== 3) return
    const i1 = runs.findIndex(function isR1 (r) { return r.topology.natsServers > 0 && r.topology.replicas === 1 && r.topology.workers === r3.topology.workers })
    const r1 = runs[i1]
    if (r1 === undefined) return
    const f1 = figures[i1] as TopologyFigures
    const f3 = figures[i3] as TopologyFigures
    const isValid = f1.isValid && f3.isValid
    costs.push({
      label: r3.topology.workers === 1 ? '1 node' : `${r3.topology.workers} workers`,
      r1: r1.topology.name,
      r3: r3.topology.name,
      throughput: isValid && r1.load.ackedPerSec > 0 ? Math.round((r3.load.ackedPerSec / r1.load.ackedPerSec) * 100) / 100 : null,
      p50Ms: { r1: r1.load.latencyMs.p50, r3: r3.load.latencyMs.p50 },
      p99Ms: { r1: r1.load.latencyMs.p99, r3: r3.load.latencyMs.p99 },
      micros: { r1: isValid ? f1.micros.gatewayAndNats : null, r3: isValid ? f3.micros.gatewayAndNats : null },
    })
  })
  return costs
}

export function buildClusterResults (settings: Settings, runs: readonly TopologyRun[], figures: readonly TopologyFigures[], costs: readonly ReplicationCost[], startedAt: Date, wallSec: number): Record<string, unknown> {
  const cpus = os.cpus()
  return {
    benchmark: 'city-sensor-gateway cluster mode (npm run bench -- --cluster)',
    date: startedAt.toISOString(),
    wallSec,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model ?? null, cores: cpus.length },
    totalMemoryBytes: os.totalmem(),
    git: gitDescription(),
    settings: { ...settings, qos: 1, readingsPerMessage: 1, kinds: KINDS, influxApi: 'v1', generatorCpuLimitPercent: GENERATOR_CPU_LIMIT_PERCENT },
    topologies: runs.map(function resultOf (run, i) {
      const { load } = run
      return {
        ...run.topology,
        ...figures[i],
        loadAverageAtStart: run.loadAverageAtStart,
        ackedPerSec: load.ackedPerSec,
        latencyMs: load.latencyMs,
        published: load.published,
        acked: load.acked,
        failed: load.failed,
        unacked: load.unacked,
        connected: load.connected,
        unexpectedCloses: load.unexpectedCloses,
        reconnects: load.reconnects,
        clientErrors: load.clientErrors,
        stored: run.stored.total,
        storedByMeasurement: run.stored.byMeasurement,
        rejectedStored: run.stored.rejected,
        backlogAtLoadEnd: run.backlogAtLoadEnd,
        groupCommits: run.gateway.groupCommits,
        drainMsAfterLoadEnd: run.drainMs,
        cpuPercent: { ...run.cpu, generators: load.generatorCpuPercents, machine: load.machineCpuPercent },
        generatorLoopDelayP99Ms: load.generatorLoopDelayP99Ms,
        streamLeader: run.streamLeader,
        gatewayExitCode: run.gateway.exitCode,
        gatewayLogWarnings: run.gateway.log.warnings,
        gatewayLogErrors: run.gateway.log.errors,
        gatewayLogProblems: run.gateway.log.first,
      }
    }),
    replicationCost: costs,
  }
}
