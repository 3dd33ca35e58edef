// One topology of `npm run bench -- --cluster` (cluster-gateway.ts starts it): the closed-loop load
// for the measured window, then open-loop load at one fixed rate, each with the CPU of the
// gateway's processes, each nats-server, influxd and this runner over its window; then the gateway
// writes out what it accepted and the points are counted in InfluxDB (stored = acked, or data was
// lost). Everything is stopped afterwards.
import os from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startTopologyGateway, type Backlog, type GatewayStopped, type Topology, type TopologyGateway } from '../cluster-gateway.ts'
import { groupCpuBetween, groupCpuSnapshot, type GroupCpuSnapshot, type ProcessGroups } from '../cpu-groups.ts'
import { countStored, type StoredCount } from '../influx-count.ts'
import { runLoad, type BenchDevice, type LoadPhase, type LoadRun } from '../load-run.ts'
import { say } from '../say.ts'
import { CLUSTER_OPEN_LOOP, type Settings } from '../settings.ts'

export const CLUSTER_DRAIN_TIMEOUT_MS = 60_000

export interface TopologyCpu {
  /** % of one core over the measured window; null when a process of the group was gone at its end. */
  gateway: number | null
  /** Each nats-server by name. */
  nats: Record<string, number | null>
  influxdb: number | null
  /** This runner (it only waits during the window; counted so that the rest is someone else's). */
  runner: number | null
}

/** One run of the load generators with the CPU of every group over its measured window. */
export interface MeasuredLoad {
  load: LoadRun
  cpu: TopologyCpu
  /** Telemetry stream messages (group commits) stored during the window; null on a single node. */
  streamMessages: number | null
}

export interface TopologyRun {
  topology: Topology
  /** 1-minute load average when the phase started (the previous phase's load is still in it). */
  loadAverageAtStart: number
  /** As fast as the window allows: throughput, and latency as queueing behind it makes it. */
  closedLoop: MeasuredLoad
  /** The same fixed rate for every topology, one message per device at a time as in the field: latency and CPU at equal load. */
  openLoop: MeasuredLoad
  /** The nats-server leading the telemetry stream; null on a single node. */
  streamLeader: string | null
  /** Of the closed loop. */
  backlogAtLoadEnd: Backlog
  /** From the closed loop's end until nothing was left to write; null when that took longer than the timeout. */
  drainMs: number | null
  /** Acknowledged in both loads together. */
  acked: number
  stored: StoredCount
  gateway: GatewayStopped
}

const NATS_GROUP_PREFIX = 'nats:'

function cpuOf (percent: Record<string, number | null>): TopologyCpu {
  const nats: Record<string, number | null> = {}
  for (const [group, value] of Object.entries(percent)) {
    if (group.startsWith(NATS_GROUP_PREFIX)) nats[group.slice(NATS_GROUP_PREFIX.length)] = value
  }
  return { gateway: percent.gateway ?? null, nats, influxdb: percent.influxdb ?? null, runner: percent.runner ?? null }
}

async function waitForDrain (backlog: () => Promise<Backlog>, loadEndAtMs: number): Promise<number | null> {
  const deadline = performance.now() + CLUSTER_DRAIN_TIMEOUT_MS
  while (performance.now() < deadline) {
    if ((await backlog()).units === 0) return Math.round(performance.now() - loadEndAtMs)
    await sleep(200)
  }
  return null
}

/** runLoad with the groups' CPU over the same window; `onLoadEnd` runs right after the window closed. */
async function measuredLoad (
  name: string, gw: TopologyGateway, groups: ProcessGroups, settings: Settings, tmp: string,
  phase: Pick<LoadPhase, 'ratePerSec' | 'warmupSec' | 'durationSec' | 'onLoadEnd'> = {},
): Promise<MeasuredLoad> {
  let windowStart: GroupCpuSnapshot | undefined
  let windowEnd: GroupCpuSnapshot | undefined
  let sequenceAtStart: number | null = null
  let sequenceAtEnd: number | null = null
  const load = await runLoad(name, gw.mqttUrl, gw.pid, gw.loadDevices, settings, tmp, {
    ...phase,
    database: gw.influx,
    async onWindowStart () {
      windowStart = groupCpuSnapshot(groups)
      sequenceAtStart = await gw.streamSequence()
    },
    async onLoadEnd () {
      windowEnd = groupCpuSnapshot(groups)
      sequenceAtEnd = await gw.streamSequence()
      await phase.onLoadEnd?.()
    },
  })
  if (windowStart === undefined || windowEnd === undefined) throw new Error('the load ended without a measured window')
  const streamMessages = sequenceAtStart === null || sequenceAtEnd === null ? null : sequenceAtEnd - sequenceAtStart
  return { load, cpu: cpuOf(groupCpuBetween(windowStart, windowEnd)), streamMessages }
}

export async function runTopology (topology: Topology, devices: readonly BenchDevice[], settings: Settings, tmp: string): Promise<TopologyRun> {
  const loadAverageAtStart = Math.round((os.loadavg()[0] ?? 0) * 100) / 100
  say(`${topology.label} (1-min load average ${loadAverageAtStart})…`)
  const gw = await startTopologyGateway(topology, devices, join(tmp, topology.name))
  let stopped: GatewayStopped | undefined
  try {
    const groups: ProcessGroups = {
      gateway: gw.pids.gateway,
      influxdb: [gw.pids.influxdb],
      runner: [process.pid],
      ...Object.fromEntries(gw.pids.nats.map(function natsGroup (s) { return [`${NATS_GROUP_PREFIX}${s.name}`, [s.pid]] })),
    }
    let backlogAtLoadEnd: Backlog = { units: Number.NaN, bytes: Number.NaN }
    const closedLoop = await measuredLoad(topology.name, gw, groups, settings, tmp, {
      async onLoadEnd () { backlogAtLoadEnd = await gw.backlog() },
    })
    const streamLeader = await gw.streamLeader()
    const drainMs = await waitForDrain(function backlog () { return gw.backlog() }, closedLoop.load.loadEndAtMs)
    const openLoop = await measuredLoad(`${topology.name}-open`, gw, groups, settings, tmp, CLUSTER_OPEN_LOOP)
    say('  waiting for the gateway to write everything to InfluxDB…')
    await waitForDrain(function backlog () { return gw.backlog() }, openLoop.load.loadEndAtMs)
    const acked = closedLoop.load.acked + openLoop.load.acked
    // InfluxDB 1.x answers a write once it is queryable; a short grace all the same.
    let stored = await countStored(gw.influx)
    for (let attempt = 0; attempt < 10 && stored.total < acked; attempt++) {
      await sleep(300)
      stored = await countStored(gw.influx)
    }
    stopped = await gw.stop()
    return { topology, loadAverageAtStart, closedLoop, openLoop, streamLeader, backlogAtLoadEnd, drainMs, acked, stored, gateway: stopped }
  } finally {
    if (stopped === undefined) await gw.stop()
  }
}
