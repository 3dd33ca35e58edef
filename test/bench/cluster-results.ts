// The figures of `npm run bench -- --cluster`, derived per topology (CPU µs per reading, against the
// single node, whether the load generator was the limit) and across topologies (what replication
// costs: R3 against R1 with the same gateway processes); laid out as JSON for stdout and
// .bench/cluster-results.json.
import os from 'node:os'
import { cpuMicrosPerMessage } from './cpu.ts'
import type { LoadRun } from './load-run.ts'
import type { MeasuredLoad, TopologyCpu, TopologyRun } from './phases/cluster.ts'
import { runEnvironment } from './results.ts'
import { CLUSTER_OPEN_LOOP, GENERATOR_CPU_LIMIT_PERCENT, KINDS, type Settings } from './settings.ts'

/** What one load's window cost each group, µs of one core per acknowledged reading. */
export interface LoopFigures {
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

export interface TopologyFigures {
  /** False when a load generator used more than GENERATOR_CPU_LIMIT_PERCENT of a core: it may have been the limit. */
  isValid: boolean
  /** Acknowledged readings that InfluxDB does not have after the drain. */
  missing: number
  /** Closed-loop acked readings/s over the single node's (null when either phase is invalid). */
  toSingleNode: number | null
  closedLoop: LoopFigures
  openLoop: LoopFigures
}

/** R3 against R1 with the same gateway processes. */
export interface ReplicationCost {
  label: string
  r1: string
  r3: string
  /** R3 acked/s ÷ R1 acked/s, closed loop. */
  throughput: number | null
  closedLoop: LoopCost
  openLoop: LoopCost
}

export interface LoopCost {
  p50Ms: { r1: number, r3: number }
  p99Ms: { r1: number, r3: number }
  /** Gateway + nats-servers, µs per reading. */
  micros: { r1: number | null, r3: number | null }
}

/** Whether every load generator stayed within GENERATOR_CPU_LIMIT_PERCENT of a core (none of them was the limit). */
export function isGeneratorWithinLimit (load: LoadRun): boolean {
  return load.generatorCpuPercents.every(function withinLimit (percent) { return percent <= GENERATOR_CPU_LIMIT_PERCENT })
}

function isRunValid (run: TopologyRun): boolean {
  return isGeneratorWithinLimit(run.closedLoop.load) && isGeneratorWithinLimit(run.openLoop.load)
}

function sumOrNull (values: readonly (number | null)[]): number | null {
  let sum = 0
  for (const value of values) {
    if (value === null) return null
    sum += value
  }
  return sum
}

/** The sum of the nats-servers' CPU; null without nats-servers or when one is unknown. */
export function natsPercentOf (cpu: TopologyCpu): number | null {
  const percents = Object.values(cpu.nats)
  return percents.length === 0 ? null : sumOrNull(percents)
}

function loopFiguresOf ({ load, cpu }: MeasuredLoad, streamLeader: string | null): LoopFigures {
  const rate = load.ackedPerSec
  const natsNames = Object.keys(cpu.nats)
  const natsPercent = natsPercentOf(cpu)
  const leader = streamLeader === null ? undefined : cpu.nats[streamLeader]
  const followers = natsNames.filter(function isFollower (name) { return name !== streamLeader }).map(function percentOf (name) { return cpu.nats[name] ?? null })
  const followersPercent = followers.length === 0 ? null : sumOrNull(followers)
  const gatewayAndNats = natsPercent === null && natsNames.length > 0 ? null : sumOrNull([cpu.gateway, natsPercent ?? 0])
  const ours = sumOrNull([cpu.gateway, natsPercent ?? 0, cpu.influxdb, cpu.runner, load.generatorCpuPercent])
  const machineOneCorePercent = load.machineCpuPercent === null ? null : load.machineCpuPercent * os.cpus().length
  return {
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

export function figuresOf (run: TopologyRun, single: TopologyRun | undefined): TopologyFigures {
  const isValid = isRunValid(run)
  const rate = run.closedLoop.load.ackedPerSec
  const singleRate = single?.closedLoop.load.ackedPerSec ?? 0
  return {
    isValid,
    missing: Math.max(0, run.acked - run.stored.total),
    toSingleNode: isValid && single !== undefined && isRunValid(single) && singleRate > 0 ? Math.round((rate / singleRate) * 100) / 100 : null,
    closedLoop: loopFiguresOf(run.closedLoop, run.streamLeader),
    openLoop: loopFiguresOf(run.openLoop, run.streamLeader),
  }
}

function loopCost (r1: MeasuredLoad, r3: MeasuredLoad, f1: LoopFigures, f3: LoopFigures, isValid: boolean): LoopCost {
  return {
    p50Ms: { r1: r1.load.latencyMs.p50, r3: r3.load.latencyMs.p50 },
    p99Ms: { r1: r1.load.latencyMs.p99, r3: r3.load.latencyMs.p99 },
    micros: { r1: isValid ? f1.micros.gatewayAndNats : null, r3: isValid ? f3.micros.gatewayAndNats : null },
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
    const rate1 = r1.closedLoop.load.ackedPerSec
    costs.push({
      label: r3.topology.workers === 1 ? '1 node' : `${r3.topology.workers} workers`,
      r1: r1.topology.name,
      r3: r3.topology.name,
      throughput: isValid && rate1 > 0 ? Math.round((r3.closedLoop.load.ackedPerSec / rate1) * 100) / 100 : null,
      closedLoop: loopCost(r1.closedLoop, r3.closedLoop, f1.closedLoop, f3.closedLoop, isValid),
      openLoop: loopCost(r1.openLoop, r3.openLoop, f1.openLoop, f3.openLoop, isValid),
    })
  })
  return costs
}

function loadFigures ({ load, cpu, streamMessages }: MeasuredLoad, figures: LoopFigures): Record<string, unknown> {
  return {
    ...figures,
    streamMessages,
    ackedInWindow: load.ackedInWindow,
    targetRatePerSec: load.targetRatePerSec,
    ackedPerSec: load.ackedPerSec,
    latencyMs: load.latencyMs,
    published: load.published,
    acked: load.acked,
    failed: load.failed,
    unacked: load.unacked,
    skipped: load.skipped,
    connected: load.connected,
    unexpectedCloses: load.unexpectedCloses,
    reconnects: load.reconnects,
    clientErrors: load.clientErrors,
    cpuPercent: { ...cpu, generators: load.generatorCpuPercents, machine: load.machineCpuPercent },
    generatorLoopDelayP99Ms: load.generatorLoopDelayP99Ms,
  }
}

export function buildClusterResults (settings: Settings, runs: readonly TopologyRun[], allFigures: readonly TopologyFigures[], costs: readonly ReplicationCost[], startedAt: Date, wallSec: number): Record<string, unknown> {
  return {
    benchmark: 'city-sensor-gateway cluster mode (npm run bench -- --cluster)',
    date: startedAt.toISOString(),
    wallSec,
    ...runEnvironment(),
    settings: { ...settings, qos: 1, readingsPerMessage: 1, kinds: KINDS, influxApi: 'v1', generatorCpuLimitPercent: GENERATOR_CPU_LIMIT_PERCENT, openLoop: CLUSTER_OPEN_LOOP },
    topologies: runs.map(function resultOf (run, i) {
      const figures = allFigures[i] as TopologyFigures
      return {
        ...run.topology,
        isValid: figures.isValid,
        loadAverageAtStart: run.loadAverageAtStart,
        closedLoop: loadFigures(run.closedLoop, figures.closedLoop),
        openLoop: loadFigures(run.openLoop, figures.openLoop),
        toSingleNode: figures.toSingleNode,
        acked: run.acked,
        stored: run.stored.total,
        missing: figures.missing,
        storedByMeasurement: run.stored.byMeasurement,
        rejectedStored: run.stored.rejected,
        backlogAtLoadEnd: run.backlogAtLoadEnd,
        drainMsAfterLoadEnd: run.drainMs,
        groupCommits: run.gateway.groupCommits,
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
