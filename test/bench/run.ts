// `npm run bench`: end-to-end throughput of the gateway against a bare Aedes 1.2 baseline, in one
// run, each broker and the load generator in its own process, everything on 127.0.0.1 with free
// ports and temp dirs. Leaves: a table on stderr, one JSON object on stdout and in .bench/results.json.
// Figures only: nothing is asserted on timings; the exit code is 1 only if the gateway lost data.
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { cpuMicrosPerMessage } from './cpu.ts'
import { ALARM_DEVICES, startBenchGateway, stopBenchGateway, type GatewayExit } from './gateway.ts'
import { makeDevices, type LoadRun } from './load-run.ts'
import { runAlarmPhase, type AlarmRun } from './phases/alarm-latency.ts'
import { BARE_OPEN_LOOP_SEC, runBaseline } from './phases/bare-aedes.ts'
import { CONNECTION_LEVELS, SETTLE_MAX_SEC, runConnectionsBench, type ConnectionsRun } from './phases/connections.ts'
import { DRAIN_TIMEOUT_MS, runThroughput, type ThroughputRun } from './phases/gateway-throughput.ts'
import { runOutagePhase, type OutageRun } from './phases/outage.ts'
import { mosquittoPath, runPeerBench, type PeerRun } from './phases/peer.ts'
import { stopInReverse, type Stop } from './processes.ts'
import { say } from './say.ts'
import { KINDS, REPO_ROOT, RESULTS_DIR, TARGETS, TARGET_RATIO, readSettings, type Settings } from './settings.ts'

/** What each phase left, in the order they ran. */
interface BenchRun {
  settings: Settings
  baseline: LoadRun
  peer: PeerRun
  throughput: ThroughputRun
  alarm: AlarmRun
  /** The same at a quarter of the throughput rate (information, no target). */
  alarmQuarter: AlarmRun
  outage: OutageRun
  gatewayExit: GatewayExit
  bareOpenLoop: LoadRun
  connections: ConnectionsRun
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
interface Derived {
  /** Gateway / bare Aedes acked per second. */
  ratio: number
  /** Gateway acked (= stored) per second / the peer's stored per second. */
  peerRatio: number
  perMessage: ReturnType<typeof cpuPerMessage>
}

function derive (run: BenchRun): Derived {
  const gatewayPerSec = run.throughput.load.ackedPerSec
  return {
    ratio: run.baseline.ackedPerSec === 0 ? 0 : gatewayPerSec / run.baseline.ackedPerSec,
    peerRatio: run.peer.storedPerSec === 0 ? 0 : gatewayPerSec / run.peer.storedPerSec,
    perMessage: cpuPerMessage(run),
  }
}

function gitDescription (): { commit: string | null; isDirty: boolean | null } {
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

/** The JSON results: the shape .bench/results.json has always had. */
function buildResults (run: BenchRun, derived: Derived, startedAt: Date, wallSec: number): Record<string, unknown> {
  const { settings, baseline, peer, throughput: gw, alarm, alarmQuarter, outage, gatewayExit, connections } = run
  const cpus = os.cpus()
  return {
    benchmark: 'city-sensor-gateway end-to-end (npm run bench)',
    date: startedAt.toISOString(),
    wallSec,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: { model: cpus[0]?.model ?? null, cores: cpus.length },
    totalMemoryBytes: os.totalmem(),
    git: gitDescription(),
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
      rssGrowthMb: Math.round((outage.rssDuringMaxMb - outage.rssBeforeMb) * 10) / 10,
      rssCatchUpMaxMb: outage.rssCatchUpMaxMb,
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
    alarmLatency: {
      targetP99Ms: TARGETS.alarmP99Ms,
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
      atQuarterRate: {
        targetRatePerSec: alarmQuarter.ratePerSec,
        loadAckedPerSec: alarmQuarter.load.ackedPerSec,
        loadLatencyMs: alarmQuarter.load.latencyMs,
        allMs: alarmQuarter.probe.all,
        missing: alarmQuarter.probe.missing,
      },
    },
    ...(gatewayExit.profile === undefined ? {} : { profile: { file: gatewayExit.profile.file, ...gatewayExit.profile.summary } }),
  }
}

/** Writes `results` to .bench/results.json (indented) and to stdout (one line). */
async function saveResults (results: Record<string, unknown>): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true })
  await writeFile(join(RESULTS_DIR, 'results.json'), `${JSON.stringify(results, null, 2)}\n`)
  process.stdout.write(`${JSON.stringify(results)}\n`)
}

function printThroughput (run: BenchRun, derived: Derived): void {
  const { settings, baseline, throughput: gw, gatewayExit } = run
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const rows: [string, string, string][] = [
    ['acked msg/s (QoS 1)', String(baseline.ackedPerSec), String(gw.load.ackedPerSec)],
    ['latency p50 ms', String(baseline.latencyMs.p50), String(gw.load.latencyMs.p50)],
    ['latency p90 ms', String(baseline.latencyMs.p90), String(gw.load.latencyMs.p90)],
    ['latency p99 ms', String(baseline.latencyMs.p99), String(gw.load.latencyMs.p99)],
    ['latency max ms', String(baseline.latencyMs.max), String(gw.load.latencyMs.max)],
    ['published / acked', `${baseline.published} / ${baseline.acked}`, `${gw.load.published} / ${gw.load.acked}`],
    ['failed / unacked', `${baseline.failed} / ${baseline.unacked}`, `${gw.load.failed} / ${gw.load.unacked}`],
    ['broker CPU % (100 = 1 core)', String(baseline.brokerCpuPercent), String(gw.load.brokerCpuPercent)],
    ['generator CPU %', String(baseline.generatorCpuPercent), String(gw.load.generatorCpuPercent)],
    ['machine CPU % (all cores)', String(baseline.machineCpuPercent), String(gw.load.machineCpuPercent)],
  ]
  const lossless = gw.stored.total === gw.load.acked
  const log = gatewayExit.throughputLog
  const firstProblems = log.first.slice(0, 3).map(function describe (l) {
    const err = l.err as { message?: string } | undefined
    return `${String(l.msg)}${typeof err?.message === 'string' ? `: ${err.message}` : ''}`
  })
  say('')
  say(`city-sensor-gateway bench — ${settings.devices} devices × ${settings.window} in flight, QoS 1, ${settings.durationSec} s measured after ${settings.warmupSec} s warm-up`)
  say(`${process.version} · ${cpu} · ${os.cpus().length} cores${settings.isProfiling ? ' · gateway under --cpu-prof (slower)' : ''}`)
  say('')
  say(`${''.padEnd(30)}${'bare Aedes'.padStart(16)}${'gateway'.padStart(16)}`)
  for (const [label, a, b] of rows) say(`${label.padEnd(30)}${a.padStart(16)}${b.padStart(16)}`)
  say('')
  say(`ratio gateway / bare Aedes     ${derived.ratio.toFixed(2)}   (target ≥ ${TARGET_RATIO})`)
  say(`stored in InfluxDB             ${gw.stored.total}   acked ${gw.load.acked}   ${lossless ? 'equal' : 'DIFFERENT'}   (${Object.entries(gw.stored.byMeasurement).map(function show ([m, n]) { return `${m} ${n}` }).join(', ')}; rejected ${gw.stored.rejected})`)
  say(`spool depth at load end        ${gw.spoolAtLoadEnd.records} records, ${gw.spoolAtLoadEnd.bytes} bytes (max seen ${gw.spoolMax.records} records)`)
  say(`spool drained                  ${gw.drainMs === null ? `not within ${DRAIN_TIMEOUT_MS} ms` : `${gw.drainMs} ms after load end`}`)
  say(`gateway log                    ${log.warnings} warnings, ${log.errors} errors${firstProblems.length > 0 ? ` (${firstProblems.join('; ')})` : ''}; exit code ${String(gatewayExit.exitCode)}`)
}

function printTargets (run: BenchRun, derived: Derived): void {
  const { peer, alarm: a, alarmQuarter: q, outage: o, connections } = run
  const { perMessage } = derived
  say('')
  say(`${'figure'.padEnd(48)}${'measured'.padStart(22)}   target`)
  say(`${'peer (Mosquitto + bridge) stored/s'.padEnd(48)}${String(peer.storedPerSec).padStart(22)}   (acked ${peer.load.ackedPerSec}/s; stored ${peer.stored} of ${peer.load.acked} acked)`)
  say(`${'gateway acked=stored/s ÷ peer stored/s'.padEnd(48)}${derived.peerRatio.toFixed(2).padStart(22)}   ≥ ${TARGETS.gatewayToPeer}`)
  say(`${`alarm latency p50/p99/max ms @${a.load.ackedPerSec}/s`.padEnd(48)}${`${a.probe.all.p50} / ${a.probe.all.p99} / ${a.probe.all.max}`.padStart(22)}   p99 < ${TARGETS.alarmP99Ms} ms`)
  say(`${'  same, no other load: p50/p99/max ms'.padEnd(48)}${`${a.idle.all.p50} / ${a.idle.all.p99} / ${a.idle.all.max}`.padStart(22)}   (${a.idle.all.count} alarms, ${a.idle.missing} missing; load's own PUBACK p50/p99 ${a.load.latencyMs.p50} / ${a.load.latencyMs.p99} ms)`)
  say(`${'  alarms received / missing'.padEnd(48)}${`${a.probe.all.count} / ${a.probe.missing}`.padStart(22)}   (raise p99 ${a.probe.raised.p99}, clear p99 ${a.probe.cleared.p99} ms)`)
  say(`${`  same at a quarter of the rate (@${q.load.ackedPerSec}/s)`.padEnd(48)}${`${q.probe.all.p50} / ${q.probe.all.p99} / ${q.probe.all.max}`.padStart(22)}   (${q.probe.all.count} alarms, ${q.probe.missing} missing; load's own PUBACK p50/p99 ${q.load.latencyMs.p50} / ${q.load.latencyMs.p99} ms)`)
  say(`${'  CPU per message, µs of a core: closed loop'.padEnd(48)}${`${String(perMessage.closedLoop.bareAedes)} / ${String(perMessage.closedLoop.gateway)}`.padStart(22)}   bare Aedes / gateway at their throughput; load generator ${String(perMessage.closedLoop.generatorWithBareAedes)} per bare Aedes message, ${String(perMessage.closedLoop.generatorWithGateway)} per gateway message; InfluxDB ${String(perMessage.closedLoop.influxdb)} per gateway message`)
  say(`${`  same, open loop @${a.load.ackedPerSec}/s`.padEnd(48)}${`${String(perMessage.openLoop.bareAedes)} / ${String(perMessage.openLoop.gateway)}`.padStart(22)}   bare Aedes ${String(perMessage.openLoop.bareAedesCpuPercent)} % CPU, gateway ${String(a.load.brokerCpuPercent)} %, load generator ${String(a.load.generatorCpuPercent)} %, InfluxDB ${String(a.load.databaseCpuPercent)} %, machine ${String(a.load.machineCpuPercent)} % (bare Aedes' PUBACK p99 ${perMessage.openLoop.bareAedesLatencyMs.p99} ms)`)
  const ingest = o.load.ackedPerSec
  const laterLog = run.gatewayExit.laterLog
  say(`${`outage ${o.outageSec} s @${ingest}/s: RSS before → max during MB`.padEnd(48)}${`${o.rssBeforeMb} → ${o.rssDuringMaxMb} (+${Math.round((o.rssDuringMaxMb - o.rssBeforeMb) * 10) / 10})`.padStart(22)}   ≤ +${TARGETS.outageMemoryMb} MB`)
  say(`${'  catch-up after InfluxDB returns'.padEnd(48)}${(o.catchUpMs === null ? 'not within budget' : `${o.catchUpMs} ms`).padStart(22)}   (spool peak ${o.spoolPeakRecords} records, ${Math.round(o.spoolPeakBytes / 1048576)} MB; RSS max while catching up ${o.rssCatchUpMaxMb} MB; log ${String(laterLog.warnings)} warnings, ${String(laterLog.errors)} errors)`)
  say(`${'  catch-up lines/s ÷ ingest msgs/s'.padEnd(48)}${`${o.catchUpLinesPerSec} / ${ingest} = ${(o.catchUpLinesPerSec / Math.max(1, ingest)).toFixed(2)}`.padStart(22)}   ≥ ${TARGETS.catchUpToIngest}`)
  for (const level of connections.levels) {
    const label = `connections ${level.requested}${level.attempted < level.requested ? ` (capped ${level.attempted})` : ''}: held, /s, B/conn`
    const settled = level.settledBytesPerConnection === null ? `not settled in ${SETTLE_MAX_SEC} s` : String(level.settledBytesPerConnection)
    const when = level.settledAfterSec === 0 ? '2 s after the last connect, under the target without settling' : `${level.bytesPerConnection} B/conn 2 s after the last connect`
    say(`${label.padEnd(48)}${`${level.held} · ${level.connectPerSec}/s · ${settled}`.padStart(22)}   ≤ ${TARGETS.bytesPerConnection} B/conn settled, all held (${when})`)
  }
  say(`${'  connections: idle RSS, fd limit, errors'.padEnd(48)}${`${connections.idleRssMb} MB · ${String(connections.fdLimit)}`.padStart(22)}   ${JSON.stringify(connections.errors)}; gateway log ${connections.gatewayWarnings} warnings, ${connections.gatewayErrors} errors`)
}

function printProfile (run: BenchRun): void {
  const { profile } = run.gatewayExit
  if (profile === undefined) return
  say('')
  const { summary } = profile
  say(`gateway CPU profile (${profile.file}), ${summary.isWindowed ? 'measured window only' : 'whole run'}: ${summary.totalMs - summary.idleMs} ms busy of ${summary.totalMs} ms; self time, % of busy:`)
  for (const f of summary.topFunctions.slice(0, 15)) say(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.name}`)
  say('  by area:')
  for (const a of summary.topAreas.slice(0, 10)) say(`  ${a.percent.toFixed(1).padStart(5)}%  ${a.name}`)
}

/** The whole table: throughput beside bare Aedes, each figure beside its target, the CPU profile if taken. */
function printTable (run: BenchRun, derived: Derived): void {
  printThroughput(run, derived)
  printTargets(run, derived)
  printProfile(run)
  say('')
}

async function main (): Promise<void> {
  const settings = readSettings()
  const startedAt = new Date()
  const tmp = await mkdtemp(join(os.tmpdir(), 'citygw-bench-'))
  const cleanups: Stop[] = []
  async function cleanUp (): Promise<void> {
    await stopInReverse(cleanups, 'cleanup')
    cleanups.length = 0
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 })
  }
  function interrupted (signal: string): void {
    say(`${signal}: stopping everything…`)
    void cleanUp().finally(function exitAfterCleanup () { process.exit(130) })
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)

  try {
    mosquittoPath() // fail before anything runs when the peer's broker is not installed
    const devices = makeDevices(settings.devices)
    // The baseline needs no credentials; it gets the same ids, kinds and payloads.
    const withoutCredentials = devices.map(function noSecret (d) { return { id: d.id, kind: d.kind, secret: 'unused' } })
    const baseline = await runBaseline(settings, withoutCredentials, tmp)
    const peer = await runPeerBench(settings, withoutCredentials, tmp)
    // One gateway, with its InfluxDB, for throughput, alarm latency and outage in turn.
    const gateway = await startBenchGateway(settings, devices, tmp, cleanups)
    const throughput = await runThroughput(gateway, settings, tmp)
    const { half: alarm, quarter: alarmQuarter } = await runAlarmPhase(gateway, throughput.load.ackedPerSec, settings, tmp)
    const outage = await runOutagePhase(gateway, Math.max(1, Math.round(throughput.load.ackedPerSec / 2)), settings, tmp)
    const gatewayExit = await stopBenchGateway(gateway, throughput.logLines, throughput.load.span, settings)
    // The alarm phase's open-loop rate on the broker alone: what one message costs without the
    // window's batching (a read and a PUBACK write per message), for the table's CPU rows.
    const bareOpenLoop = await runBaseline(settings, withoutCredentials, tmp, { ratePerSec: alarm.ratePerSec, durationSec: BARE_OPEN_LOOP_SEC })
    const connections = await runConnectionsBench(tmp, gateway.influx.url)

    const run: BenchRun = { settings, baseline, peer, throughput, alarm, alarmQuarter, outage, gatewayExit, bareOpenLoop, connections }
    const derived = derive(run)
    printTable(run, derived)
    const wallSec = Math.round((Date.now() - startedAt.getTime()) / 1000)
    say(`whole run: ${wallSec} s`)
    await saveResults(buildResults(run, derived, startedAt, wallSec))
    // Not a timing assertion: an acknowledged reading missing after a full drain is lost data.
    if (throughput.drainMs !== null && throughput.stored.total < throughput.load.acked) {
      say(`LOST DATA: ${throughput.load.acked - throughput.stored.total} acknowledged readings are not in InfluxDB`)
      process.exitCode = 1
    }
  } finally {
    await cleanUp()
  }
}

main().catch(function failed (err: unknown) {
  say(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exitCode = 1
})
