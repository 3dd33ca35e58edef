// The table on stderr: bare Aedes beside the gateway, then each figure beside its target.
import os from 'node:os'
import { DRAIN_TIMEOUT_MS } from './phases/gateway-throughput.ts'
import { SETTLE_MAX_SEC } from './phases/connections.ts'
import type { ReconnectStormRun } from './phases/reconnect-storm.ts'
import type { MemorySplit } from './metrics.ts'
import type { AlarmRun } from './phases/alarm-latency.ts'
import type { BenchRun, Derived } from './results.ts'
import { say } from './say.ts'
import type { LoadRun } from './load-run.ts'
import { GENERATOR_CPU_LIMIT_PERCENT, TARGETS, TARGET_RATIO } from './settings.ts'

/** Whether every load generator of a run stayed under the limit, so that it cannot have been what limited the figure. */
export function isGeneratorBound (load: LoadRun): boolean {
  return load.generatorCpuPercents.some(function overLimit (percent) { return percent > GENERATOR_CPU_LIMIT_PERCENT })
}

function validity (name: string, load: LoadRun): string {
  return isGeneratorBound(load)
    ? `${name}: INVALID — a load generator used ${load.generatorCpuPercents.join(' + ')} % of a core (limit ${GENERATOR_CPU_LIMIT_PERCENT} %): it may have been the limit, not the broker`
    : `${name}: load generator at ${load.generatorCpuPercents.join(' + ')} % of a core (≤ ${GENERATOR_CPU_LIMIT_PERCENT} %: not the limit)`
}

/** What an open-loop load did: devices, skipped turns (a device still waiting for its PUBACK), its generator. */
function openLoopNote (load: LoadRun): string {
  const generator = isGeneratorBound(load) ? `INVALID: load generator at ${load.generatorCpuPercents.join(' + ')} % of a core` : `load generator ${load.generatorCpuPercents.join(' + ')} % of a core`
  return `${load.devices} devices one message at a time, ${load.skipped} turns skipped; ${generator}`
}

/** Whether the alarm probe itself was late in a round. */
function probeNote ({ probe }: AlarmRun): string {
  return `the probe's own event-loop delay p99 ${probe.probeLoopDelayP99Ms} ms, max ${probe.probeLoopDelayMaxMs} ms, at ${probe.probeCpuPercent} % CPU`
}

/** What else an alarm round saw: its alarms, the load's own PUBACKs, and whether the probe itself was late. */
function alarmRoundNote (round: AlarmRun): string {
  const { probe, load } = round
  return `${probe.all.count} alarms, ${probe.missing} missing; load's own PUBACK p50/p99 ${load.latencyMs.p50} / ${load.latencyMs.p99} ms; ${probeNote(round)}`
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
  say(validity('bare Aedes', baseline))
  say(validity('gateway', gw.load))
  const isRatioValid = !isGeneratorBound(baseline) && !isGeneratorBound(gw.load)
  say(`ratio gateway / bare Aedes     ${isRatioValid ? derived.ratio.toFixed(2) : 'INVALID'}   (target ≥ ${TARGET_RATIO}; ${settings.generator === 'lean' ? 'lean generator: raw sockets, pre-encoded packets' : 'MQTT.js generator'})`)
  say(`stored in InfluxDB             ${gw.stored.total}   acked ${gw.load.acked}   ${lossless ? 'equal' : 'DIFFERENT'}   (${Object.entries(gw.stored.byMeasurement).map(function show ([m, n]) { return `${m} ${n}` }).join(', ')}; rejected ${gw.stored.rejected})`)
  say(`spool depth at load end        ${gw.spoolAtLoadEnd.records} records, ${gw.spoolAtLoadEnd.bytes} bytes (max seen ${gw.spoolMax.records} records)`)
  say(`spool drained                  ${gw.drainMs === null ? `not within ${DRAIN_TIMEOUT_MS} ms` : `${gw.drainMs} ms after load end`}`)
  say(`gateway log                    ${log.warnings} warnings, ${log.errors} errors${firstProblems.length > 0 ? ` (${firstProblems.join('; ')})` : ''}; exit code ${String(gatewayExit.exitCode)}`)
}

function printTargets (run: BenchRun, derived: Derived): void {
  const { peer, alarm: a, alarmQuarter: q, alarmOpenLoop, outage: o, connections } = run
  const { perMessage } = derived
  say('')
  say(`${'figure'.padEnd(48)}${'measured'.padStart(22)}   target`)
  say(`${'peer (Mosquitto + bridge) stored/s'.padEnd(48)}${String(peer.storedPerSec).padStart(22)}   (acked ${peer.load.ackedPerSec}/s; stored ${peer.stored} of ${peer.load.acked} acked; ${isGeneratorBound(peer.load) ? 'INVALID: ' : ''}load generator ${peer.load.generatorCpuPercents.join(' + ')} % of a core)`)
  say(`${'gateway acked=stored/s ÷ peer stored/s'.padEnd(48)}${derived.peerRatio.toFixed(2).padStart(22)}   ≥ ${TARGETS.gatewayToPeer}`)
  say(`${`alarm latency p50/p99/max ms @${a.load.ackedPerSec}/s`.padEnd(48)}${`${a.probe.all.p50} / ${a.probe.all.p99} / ${a.probe.all.max}`.padStart(22)}   p99 < ${TARGETS.alarmP99HalfMs} ms at half the throughput (${a.ratePerSec}/s asked; ${openLoopNote(a.load)})`)
  say(`${'  same, no other load: p50/p99/max ms'.padEnd(48)}${`${a.idle.all.p50} / ${a.idle.all.p99} / ${a.idle.all.max}`.padStart(22)}   (${a.idle.all.count} alarms, ${a.idle.missing} missing; load's own PUBACK p50/p99 ${a.load.latencyMs.p50} / ${a.load.latencyMs.p99} ms)`)
  say(`${'  alarms received / missing'.padEnd(48)}${`${a.probe.all.count} / ${a.probe.missing}`.padStart(22)}   (raise p99 ${a.probe.raised.p99}, clear p99 ${a.probe.cleared.p99} ms; ${probeNote(a)})`)
  say(`${`  same at a quarter of the rate (@${q.load.ackedPerSec}/s)`.padEnd(48)}${`${q.probe.all.p50} / ${q.probe.all.p99} / ${q.probe.all.max}`.padStart(22)}   p99 < ${TARGETS.alarmP99QuarterMs} ms (${q.ratePerSec}/s asked; ${openLoopNote(q.load)}; ${alarmRoundNote(q)})`)
  if (alarmOpenLoop === undefined) {
    say(`${'  open-loop maximum'.padEnd(48)}${'not reached'.padStart(22)}   the half round kept up with its rate: no rounds at shares of the open-loop maximum`)
  } else {
    for (const [share, round] of [['half', alarmOpenLoop.half], ['a quarter', alarmOpenLoop.quarter]] as const) {
      say(`${`  at ${share} of the open-loop max ${alarmOpenLoop.maximumPerSec}/s (@${round.load.ackedPerSec}/s)`.padEnd(48)}${`${round.probe.all.p50} / ${round.probe.all.p99} / ${round.probe.all.max}`.padStart(22)}   information (${round.ratePerSec}/s asked; ${openLoopNote(round.load)}; gateway ${String(round.load.brokerCpuPercent)} % CPU; ${alarmRoundNote(round)})`)
    }
  }
  say(`${'  CPU per message, µs of a core: closed loop'.padEnd(48)}${`${String(perMessage.closedLoop.bareAedes)} / ${String(perMessage.closedLoop.gateway)}`.padStart(22)}   bare Aedes / gateway at their throughput; load generator ${String(perMessage.closedLoop.generatorWithBareAedes)} per bare Aedes message, ${String(perMessage.closedLoop.generatorWithGateway)} per gateway message; InfluxDB ${String(perMessage.closedLoop.influxdb)} per gateway message`)
  say(`${`  same, open loop @${a.load.ackedPerSec}/s`.padEnd(48)}${`${String(perMessage.openLoop.bareAedes)} / ${String(perMessage.openLoop.gateway)}`.padStart(22)}   bare Aedes ${String(perMessage.openLoop.bareAedesCpuPercent)} % CPU, gateway ${String(a.load.brokerCpuPercent)} %, load generator ${String(a.load.generatorCpuPercent)} %, InfluxDB ${String(a.load.databaseCpuPercent)} %, machine ${String(a.load.machineCpuPercent)} % (bare Aedes' PUBACK p99 ${perMessage.openLoop.bareAedesLatencyMs.p99} ms)`)
  const ingest = o.load.ackedPerSec
  const laterLog = run.gatewayExit.laterLog
  const growth = function growth (from: number): string {
    const mb = Math.round((o.rssDuringMaxMb - from) * 10) / 10
    return `${from} → ${o.rssDuringMaxMb} MB (${mb >= 0 ? '+' : ''}${mb})`
  }
  say(`${`outage ${o.outageSec} s @${ingest}/s: RSS most before → during`.padEnd(48)}${growth(o.rssBeforeMaxMb).padStart(22)}   ≤ +${TARGETS.outageMemoryMb} MB (the most over ${o.outageSec} s of the same load before the stop against the most during the outage)`)
  say(`${'  RSS just before the stop → most during'.padEnd(48)}${growth(o.rssBeforeMb).padStart(22)}   one sample, wherever the old generation stood between two full collections`)
  if (o.memoryAtBeforeMax !== undefined && o.memoryAtMax !== undefined) {
    say(`${'  where the RSS growth is, MB'.padEnd(48)}${describeMemoryGrowth(o.memoryAtBeforeMax, o.memoryAtMax).padStart(22)}   from the gateway's /metrics beside /proc at the two samples with the most RSS`)
  }
  say(`${'  catch-up after InfluxDB returns'.padEnd(48)}${(o.catchUpMs === null ? 'not within budget' : `${o.catchUpMs} ms`).padStart(22)}   (spool peak ${o.spoolPeakRecords} records, ${Math.round(o.spoolPeakBytes / 1048576)} MB; RSS max while catching up ${o.rssCatchUpMaxMb} MB; log ${String(laterLog.warnings)} warnings, ${String(laterLog.errors)} errors)`)
  say(`${'  catch-up lines/s ÷ ingest msgs/s'.padEnd(48)}${`${o.catchUpLinesPerSec} / ${ingest} = ${(o.catchUpLinesPerSec / Math.max(1, ingest)).toFixed(2)}`.padStart(22)}   ≥ ${TARGETS.catchUpToIngest}`)
  for (const level of connections.levels) {
    const label = `connections ${level.requested}${level.attempted < level.requested ? ` (capped ${level.attempted})` : ''}: held, /s, B/conn`
    const settled = level.settledBytesPerConnection === null ? `not settled in ${SETTLE_MAX_SEC} s` : String(level.settledBytesPerConnection)
    const when = level.settledAfterSec === 0 ? '2 s after the last connect, under the target without settling' : `${level.bytesPerConnection} B/conn 2 s after the last connect`
    say(`${label.padEnd(48)}${`${level.held} · ${level.connectPerSec}/s · ${settled}`.padStart(22)}   ≤ ${TARGETS.bytesPerConnection} B/conn settled, all held (${when})`)
    if (connections.idleMemory !== null && level.memoryAfterWait !== null) {
      say(`${'  where it is against the idle gateway, MB'.padEnd(48)}${describeMemoryGrowth(connections.idleMemory, level.memoryAfterWait).padStart(22)}   ${level.settledAfterSec === null ? `at the end of the ${SETTLE_MAX_SEC} s wait` : level.settledAfterSec === 0 ? '2 s after the last connect' : 'once settled'}, from the gateway's /metrics beside /proc`)
    }
  }
  say(`${'  connections: idle RSS, fd limit, errors'.padEnd(48)}${`${connections.idleRssMb} MB · ${String(connections.fdLimit)}`.padStart(22)}   ${JSON.stringify(connections.errors)}; gateway log ${connections.gatewayWarnings} warnings, ${connections.gatewayErrors} errors`)
}

function row (label: string, measured: string, target: string): void {
  say(`${label.padEnd(48)}${measured.padStart(22)}   ${target}`)
}

/** CPU others used on the machine during the storm (% of a core) above which the table says so. */
const OTHERS_CPU_FLAG_PERCENT = 20

function mark (isMet: boolean): string {
  return isMet ? '✓' : '✗'
}

/** The reconnect storm's rows (also the whole table of `reconnect-storm-run.ts`). */
export function printStorm (storm: ReconnectStormRun): void {
  const s = storm
  const capped = s.stormDevices < s.registered - s.loadDevices ? ` (capped by the open-file limit ${String(s.fdLimit)})` : ''
  const percentiles = function percentiles (l: { p50: number; p99: number; max: number }): string { return [l.p50, l.p99, l.max].map(Math.round).join(' / ') }
  const seconds = function seconds (ms: number | null): string { return ms === null ? 'not all' : `${(ms / 1000).toFixed(1)} s` }
  say(`reconnect storm: ${s.registered} lamp posts registered; ${s.held} of ${s.stormDevices} storm devices held${capped}, ${s.loadDevices} publishing; restart ${seconds(s.restartMs)} (SIGTERM → "gateway started", of which ${seconds(s.stopMs)} stopping)`)
  row('  storm: all connected after "gateway started"', seconds(s.allConnectedMs), `≤ ${TARGETS.stormAllConnectedSec} s ${mark(s.allConnectedMs !== null && s.allConnectedMs <= TARGETS.stormAllConnectedSec * 1000)} (${s.notConnected} not connected after ${TARGETS.stormAllConnectedSec} s; first CONNACK at ${seconds(s.firstConnackMs)})`)
  row('  storm: all readings acknowledged', seconds(s.allAckedMs), `≤ ${TARGETS.stormAllAckedSec} s ${mark(s.allAckedMs !== null && s.allAckedMs <= TARGETS.stormAllAckedSec * 1000)} (${s.notAcked} not acknowledged after ${TARGETS.stormAllAckedSec} s)`)
  row('  CONNACK wait p50/p99/max ms', percentiles(s.connackWaitMs), `from TCP established, the attempt that got it; longest wait on any connection, answered or not: ${s.longestConnackWaitMs} ms`)
  row('  first attempt → CONNACK p50/p99/max ms', percentiles(s.sinceFirstAttemptMs), `refused attempts while the gateway started included; attempts p50 ${s.attemptsP50}, max ${s.attemptsMax}`)
  row('  connection closed → CONNACK p50/p99/max ms', percentiles(s.sinceCloseMs), 'the outage as a device saw it')
  row('  PUBACK wait p50/p99/max ms', percentiles(s.pubackWaitMs), `failed attempts ${JSON.stringify(s.errors)}; the probes' own event-loop delay p99 ${s.probeLoopDelayMs.p99} ms, max ${s.probeLoopDelayMs.max} ms (in every wait above)`)
  row('  handshakes dropped, listen queue full', String(s.listenOverflows), `host-wide, restart to storm end; gateway ${JSON.stringify(s.gatewayCounters)}`)
  row('  RSS before → max during → 5 s after, MB', `${s.rssBeforeMb} → ${s.rssDuringMaxMb} → ${s.rssAfterMb}`, `during the storm: gateway ${String(s.cpu.brokerCpuPercent)} % of a core, InfluxDB ${String(s.cpu.databaseCpuPercent)} %, storm probes ${s.probeCpuPercents.join(' + ')} %, machine ${String(s.cpu.machineCpuPercent)} % of all cores, others ${String(s.othersCpuPercent)} %${s.othersCpuPercent !== null && s.othersCpuPercent > OTHERS_CPU_FLAG_PERCENT ? ' (BUSY MACHINE: the figures are worse than the gateway alone makes them)' : ''}`)
  const during = s.loadDuringStorm
  row('  load generator during the storm, acked/s', during === null ? 'n/a' : String(during.ackedPerSec),
    `${during === null ? '' : `${during.cpuPercent} % of a core, from ${seconds(during.fromMs)} to ${seconds(during.toMs)}; `}whole ${s.load.durationSec} s window ${s.load.ackedPerSec}/s at ${s.load.generatorCpuPercent} %, ${s.load.connected} of ${s.loadDevices} connected, PUBACK p99 ${s.load.latencyMs.p99} ms`)
  const isLossless = s.drainMs !== null && s.storedStorm >= s.acked && s.storedLoad >= s.load.acked
  row('  stored ≥ acked: storm · load generator', `${s.storedStorm} ≥ ${s.acked} · ${s.storedLoad} ≥ ${s.load.acked}`, `${isLossless ? 'nothing lost' : 'LOST DATA'} (spool ${s.drainMs === null ? 'not drained' : `drained ${s.drainMs} ms after the load`}); gateway log ${s.gatewayLog.warnings} warnings, ${s.gatewayLog.errors} errors; exit code ${String(s.exitCode)}`)
  if (s.notAcked > 0) say(`  waiting at ${TARGETS.stormAllAckedSec} s: ${JSON.stringify(s.pending)}`)
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
  // The main thread's sampled busy time per acknowledged message of the window, split by stage.
  const acked = run.throughput.load.ackedInWindow
  say(`  by pipeline stage (innermost gateway frame on the stack), µs of the main thread per acknowledged message${acked > 0 ? '' : ' (no message acknowledged)'}:`)
  const busyUs = (summary.totalMs - summary.idleMs) * 1000
  for (const stage of summary.stages) {
    const us = acked > 0 ? (busyUs * stage.percent) / 100 / acked : Number.NaN
    say(`  ${us.toFixed(1).padStart(5)} µs  ${stage.percent.toFixed(1).padStart(5)}%  ${stage.name}`)
  }
}

/** The whole table: throughput beside bare Aedes, each figure beside its target, the CPU profile if taken. */
export function printTable (run: BenchRun, derived: Derived): void {
  printThroughput(run, derived)
  printTargets(run, derived)
  printStorm(run.storm)
  printProfile(run)
  say('')
}

/** RSS growth split into V8's young generation, the rest of its heap, external memory and the rest. */
function describeMemoryGrowth (before: MemorySplit, after: MemorySplit): string {
  const delta = function delta (key: keyof MemorySplit): number { return Math.round((after[key] - before[key]) * 10) / 10 }
  const signed = function signed (mb: number): string { return `${mb >= 0 ? '+' : ''}${String(mb)}` }
  const outside = Math.round((delta('rss') - delta('youngGeneration') - delta('restOfHeap') - delta('external')) * 10) / 10
  return `young generation ${signed(delta('youngGeneration'))} (${String(before.youngGeneration)} → ${String(after.youngGeneration)}), rest of the heap ${signed(delta('restOfHeap'))}, external ${signed(delta('external'))}, native rest ${signed(outside)}`
}
