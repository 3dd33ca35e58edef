// The figures of one run, derived (ratios, CPU per message) and laid out as the JSON results:
// one object on stdout and in .bench/results.json, with settings, targets, machine and git commit.
import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { cpuMicrosPerMessage } from './cpu.ts'
import { ALARM_DEVICES, type GatewayExit } from './gateway.ts'
import type { LoadRun } from './load-run.ts'
import type { AlarmPhase, AlarmRun } from './phases/alarm-latency.ts'
import { CONNECTION_LEVELS, type ConnectionsRun } from './phases/connections.ts'
import type { ThroughputRun } from './phases/gateway-throughput.ts'
import type { OutageRun } from './phases/outage.ts'
import type { PeerRun } from './phases/peer.ts'
import type { ReconnectStormRun } from './phases/reconnect-storm.ts'
import { KINDS, REPO_ROOT, RESULTS_DIR, TARGETS, TARGET_RATIO, type Settings } from './settings.ts'

/** What each phase left, in the order they ran. */
export interface BenchRun {
  settings: Settings
  baseline: LoadRun
  peer: PeerRun
  throughput: ThroughputRun
  alarm: AlarmRun
  /** The same at a quarter of the throughput rate (information, no target). */
  alarmQuarter: AlarmRun
  /** At half and a quarter of the open-loop maximum, when the half round found the gateway saturated. */
  alarmOpenLoop: AlarmPhase['openLoop']
  outage: OutageRun
  gatewayExit: GatewayExit
  bareOpenLoop: LoadRun
  connections: ConnectionsRun
  storm: ReconnectStormRun
}

/**
 * What one message costs each process (µs of one core), closed loop (the throughput runs, a window
 * of publishes shares each socket read and PUBACK write) and open loop at the alarm phase's rate
 * (one read and one write per message, as devices in the field send).
 */
function cpuPerMessage (run: BenchRun) {
  const { baseline, bareOpenLoop } = run
  const gateway = run.throughput.load
  const alarmLoad = run.alarm.load
  return {
    closedLoop: {
      bareAedes: cpuMicrosPerMessage(baseline.brokerCpuPercent, baseline.ackedPerSec),
      generatorWithBareAedes: cpuMicrosPerMessage(baseline.generatorCpuPercent, baseline.ackedPerSec),
      gateway: cpuMicrosPerMessage(gateway.brokerCpuPercent, gateway.ackedPerSec),
      generatorWithGateway: cpuMicrosPerMessage(gateway.generatorCpuPercent, gateway.ackedPerSec),
      influxdb: cpuMicrosPerMessage(gateway.databaseCpuPercent, gateway.ackedPerSec),
    },
    openLoop: {
      ratePerSec: alarmLoad.ackedPerSec,
      bareAedes: cpuMicrosPerMessage(bareOpenLoop.brokerCpuPercent, bareOpenLoop.ackedPerSec),
      bareAedesCpuPercent: bareOpenLoop.brokerCpuPercent,
      bareAedesLatencyMs: bareOpenLoop.latencyMs,
      gateway: cpuMicrosPerMessage(alarmLoad.brokerCpuPercent, alarmLoad.ackedPerSec),
      gatewayCpuPercent: alarmLoad.brokerCpuPercent,
      generator: cpuMicrosPerMessage(alarmLoad.generatorCpuPercent, alarmLoad.ackedPerSec),
      influxdb: cpuMicrosPerMessage(alarmLoad.databaseCpuPercent, alarmLoad.ackedPerSec),
      machineCpuPercent: alarmLoad.machineCpuPercent,
    },
  }
}

/** The figures computed from several phases, for the table and the JSON alike. */
export interface Derived {
  /** Gateway / bare Aedes acked per second. */
  ratio: number
  /** Gateway acked (= stored) per second / the peer's stored per second. */
  peerRatio: number
  perMessage: ReturnType<typeof cpuPerMessage>
}

export function derive (run: BenchRun): Derived {
  const gatewayPerSec = run.throughput.load.ackedPerSec
  return {
    ratio: run.baseline.ackedPerSec === 0 ? 0 : gatewayPerSec / run.baseline.ackedPerSec,
    peerRatio: run.peer.storedPerSec === 0 ? 0 : gatewayPerSec / run.peer.storedPerSec,
    perMessage: cpuPerMessage(run),
  }
}

export function gitDescription (): { commit: string | null; isDirty: boolean | null } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const status = execFileSync('git', ['status', '--porcelain'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    return { commit, isDirty: status.trim() !== '' }
  } catch {
    return { commit: null, isDirty: null }
  }
}

function loadFigures (run: LoadRun): Record<string, unknown> {
  return {
    ackedPerSec: run.ackedPerSec,
    latencyMs: run.latencyMs,
    published: run.published,
    acked: run.acked,
    failed: run.failed,
    unacked: run.unacked,
    ackedInWindow: run.ackedInWindow,
    connected: run.connected,
    connectMs: run.connectMs,
    unexpectedCloses: run.unexpectedCloses,
    clientErrors: run.clientErrors,
    brokerCpuPercent: run.brokerCpuPercent,
    databaseCpuPercent: run.databaseCpuPercent,
    machineCpuPercent: run.machineCpuPercent,
    generatorCpuPercent: run.generatorCpuPercent,
    generatorLoopDelayP99Ms: run.generatorLoopDelayP99Ms,
  }
}

/** The reconnect storm's figures for the JSON: the load generator's as in the other phases. */
export function stormFigures (storm: ReconnectStormRun): Record<string, unknown> {
  const { load, ...figures } = storm
  return {
    ...figures,
    load: loadFigures(load),
    targetAllConnectedSec: TARGETS.stormAllConnectedSec,
    targetAllAckedSec: TARGETS.stormAllAckedSec,
    isStoredAtLeastAcked: storm.drainMs !== null && storm.storedStorm >= storm.acked && storm.storedLoad >= load.acked,
  }
}

/** Where a run ran: Node, OS, CPU, memory and the commit, for every results file. */
export function runEnvironment (): Record<string, unknown> {
  const cpus = os.cpus()
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model ?? null, cores: cpus.length },
    totalMemoryBytes: os.totalmem(),
    git: gitDescription(),
  }
}

/** The JSON results: the shape .bench/results.json has always had. */
export function buildResults (run: BenchRun, derived: Derived, startedAt: Date, wallSec: number): Record<string, unknown> {
  const { settings, baseline, peer, throughput: gw, alarm, alarmQuarter, alarmOpenLoop, outage, gatewayExit, connections } = run
  return {
    benchmark: 'city-sensor-gateway end-to-end (npm run bench)',
    date: startedAt.toISOString(),
    wallSec,
    ...runEnvironment(),
    settings: { ...settings, qos: 1, readingsPerMessage: 1, kinds: KINDS, influxApi: 'v1' },
    targets: { ratioGatewayToBareAedes: TARGET_RATIO, ...TARGETS },
    bareAedes: loadFigures(baseline),
    gateway: {
      ...loadFigures(gw.load),
      stored: gw.stored.total,
      storedByMeasurement: gw.stored.byMeasurement,
      rejectedStored: gw.stored.rejected,
      isStoredEqualToAcked: gw.stored.total === gw.load.acked,
      spoolDepthAtLoadEnd: gw.spoolAtLoadEnd,
      spoolDepthMax: gw.spoolMax,
      drainMsAfterLoadEnd: gw.drainMs,
      metrics: gw.metrics,
      logWarnings: gatewayExit.throughputLog.warnings,
      logErrors: gatewayExit.throughputLog.errors,
      logProblems: gatewayExit.throughputLog.first,
      exitCode: gatewayExit.exitCode,
      isProfiled: settings.isProfiling,
    },
    ratio: Math.round(derived.ratio * 1000) / 1000,
    peer: {
      ...loadFigures(peer.load),
      storedPerSec: peer.storedPerSec,
      storedInWindow: peer.storedInWindow,
      stored: peer.stored,
      lostAfterPuback: Math.max(0, peer.load.acked - peer.stored),
      bridge: peer.bridge,
      flushMs: peer.flushMs,
    },
    ratioGatewayToPeer: Math.round(derived.peerRatio * 1000) / 1000,
    cpuMicrosPerMessage: derived.perMessage,
    outage: {
      outageSec: outage.outageSec,
      targetRatePerSec: outage.ratePerSec,
      ingestPerSec: outage.load.ackedPerSec,
      loadLatencyMs: outage.load.latencyMs,
      loadFailed: outage.load.failed,
      loadUnacked: outage.load.unacked,
      rssBeforeMb: outage.rssBeforeMb,
      rssBeforeMaxMb: outage.rssBeforeMaxMb,
      rssDuringMaxMb: outage.rssDuringMaxMb,
      // The judged figure: the most during the outage against the most under the same load before it.
      rssGrowthMb: Math.round((outage.rssDuringMaxMb - outage.rssBeforeMaxMb) * 10) / 10,
      rssGrowthFromLastSampleMb: Math.round((outage.rssDuringMaxMb - outage.rssBeforeMb) * 10) / 10,
      rssCatchUpMaxMb: outage.rssCatchUpMaxMb,
      memoryBeforeMb: outage.memoryBefore,
      memoryAtBeforeMaxMb: outage.memoryAtBeforeMax,
      memoryAtMaxMb: outage.memoryAtMax,
      targetRssGrowthMb: TARGETS.outageMemoryMb,
      spoolPeakRecords: outage.spoolPeakRecords,
      spoolPeakBytes: outage.spoolPeakBytes,
      influxRestartMs: outage.influxRestartMs,
      // From the alarm phase on: the outage's warnings are expected.
      gatewayLogWarnings: gatewayExit.laterLog.warnings,
      gatewayLogErrors: gatewayExit.laterLog.errors,
      gatewayLogProblems: gatewayExit.laterLog.first,
      catchUpMs: outage.catchUpMs,
      catchUpLinesPerSec: outage.catchUpLinesPerSec,
      catchUpToIngest: Math.round((outage.catchUpLinesPerSec / Math.max(1, outage.load.ackedPerSec)) * 100) / 100,
      targetCatchUpToIngest: TARGETS.catchUpToIngest,
    },
    connections: { ...connections, targetBytesPerConnection: TARGETS.bytesPerConnection, levelsRequested: CONNECTION_LEVELS },
    reconnectStorm: stormFigures(run.storm),
    alarmLatency: {
      targetP99Ms: TARGETS.alarmP99HalfMs,
      loadSkippedTurns: alarm.load.skipped,
      generatorCpuPercents: alarm.load.generatorCpuPercents,
      targetRatePerSec: alarm.ratePerSec,
      loadAckedPerSec: alarm.load.ackedPerSec,
      loadLatencyMs: alarm.load.latencyMs,
      probeDevices: ALARM_DEVICES,
      allMs: alarm.probe.all,
      raisedMs: alarm.probe.raised,
      clearedMs: alarm.probe.cleared,
      missing: alarm.probe.missing,
      noLoadMs: alarm.idle.all,
      noLoadMissing: alarm.idle.missing,
      publishErrors: alarm.probe.publishErrors,
      durationSec: alarm.probe.durationSec,
      ...probeFigures(alarm),
      atQuarterRate: {
        targetP99Ms: TARGETS.alarmP99QuarterMs,
        ...alarmRoundFigures(alarmQuarter),
      },
      ...(alarmOpenLoop === undefined
        ? {}
        : {
            atShareOfOpenLoopMaximum: {
              maximumPerSec: alarmOpenLoop.maximumPerSec,
              half: alarmRoundFigures(alarmOpenLoop.half),
              quarter: alarmRoundFigures(alarmOpenLoop.quarter),
            },
          }),
    },
    ...(gatewayExit.profile === undefined ? {} : { profile: { file: gatewayExit.profile.file, ...gatewayExit.profile.summary } }),
  }
}

/** The alarm probe's own event loop delay and CPU in a round: whether the instrument itself was late. */
export function probeFigures (round: AlarmRun) {
  return {
    probeLoopDelayP99Ms: round.probe.probeLoopDelayP99Ms,
    probeLoopDelayMaxMs: round.probe.probeLoopDelayMaxMs,
    probeCpuPercent: round.probe.probeCpuPercent,
  }
}

/** One open-loop round of the alarm phase. */
function alarmRoundFigures (round: AlarmRun) {
  return {
    targetRatePerSec: round.ratePerSec,
    loadAckedPerSec: round.load.ackedPerSec,
    loadSkippedTurns: round.load.skipped,
    generatorCpuPercents: round.load.generatorCpuPercents,
    gatewayCpuPercent: round.load.brokerCpuPercent,
    machineCpuPercent: round.load.machineCpuPercent,
    loadLatencyMs: round.load.latencyMs,
    allMs: round.probe.all,
    missing: round.probe.missing,
    ...probeFigures(round),
  }
}

/** Writes `results` to .bench/<fileName> (indented) and to stdout (one line). */
export async function saveResults (results: Record<string, unknown>, fileName = 'results.json'): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true })
  await writeFile(join(RESULTS_DIR, fileName), `${JSON.stringify(results, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(results)}\n`)
}
