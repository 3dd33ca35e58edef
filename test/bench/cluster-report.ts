// The table of `npm run bench -- --cluster` on stderr: one column per topology, the single node
// first; then what replication costs. A phase whose load generator may have been the limit shows
// "invalid" instead of its figures.
import os from 'node:os'
import { natsPercentOf, type LoopCost, type LoopFigures, type ReplicationCost, type TopologyFigures } from './cluster-results.ts'
import { CLUSTER_DRAIN_TIMEOUT_MS, type MeasuredLoad, type TopologyRun } from './phases/cluster.ts'
import { say } from './say.ts'
import { CLUSTER_OPEN_LOOP, GENERATOR_CPU_LIMIT_PERCENT, type Settings } from './settings.ts'

/** Others' CPU (% of one core) over a window above which the table says the phase was disturbed. */
const DISTURBED_PERCENT = 20
const LABEL_WIDTH = 40
const COLUMN_WIDTH = 19

type Cell = string | number | null

function show (value: Cell): string {
  return value === null ? '—' : String(value)
}

function row (label: string, cells: readonly Cell[]): void {
  say(`${label.padEnd(LABEL_WIDTH)}${cells.map(function pad (c) { return show(c).padStart(COLUMN_WIDTH) }).join('')}`)
}

/** A figure of a valid phase; "invalid" in place of the first figure of an invalid one, "—" after it. */
function validRow (label: string, figures: readonly TopologyFigures[], cells: readonly Cell[], isFirst = false): void {
  row(label, cells.map(function checked (cell, i) { return figures[i]?.isValid === true ? cell : isFirst ? 'invalid' : null }))
}

function pair (a: Cell, b: Cell): string {
  return `${show(a)} / ${show(b)}`
}

function ms (value: number): string {
  return value.toFixed(1)
}

function describeLoopCost (cost: LoopCost): string {
  return `PUBACK p50 ${ms(cost.p50Ms.r1)} → ${ms(cost.p50Ms.r3)} ms, p99 ${ms(cost.p99Ms.r1)} → ${ms(cost.p99Ms.r3)} ms; ` +
    `CPU per reading (gateway + nats-servers) ${show(cost.micros.r1)} → ${show(cost.micros.r3)} µs`
}

/** The CPU rows of one load: % of a core per group, then µs per reading. */
function printCpuRows (title: string, runs: readonly TopologyRun[], figures: readonly TopologyFigures[], loopOf: (r: TopologyRun) => MeasuredLoad, loopFiguresOf: (f: TopologyFigures) => LoopFigures): void {
  const cores = os.cpus().length
  say(title)
  row('CPU % of a core: gateway', runs.map(function gatewayCpu (r) { return loopOf(r).cpu.gateway }))
  row('  nats-servers (stream leader)', runs.map(function natsCpu (r) {
    const { cpu } = loopOf(r)
    if (Object.keys(cpu.nats).length === 0) return null
    return `${show(natsPercentOf(cpu))} (${show(r.streamLeader === null ? null : cpu.nats[r.streamLeader] ?? null)})`
  }))
  row('  influxd', runs.map(function influxCpu (r) { return loopOf(r).cpu.influxdb }))
  row(`  load generators (each ≤ ${GENERATOR_CPU_LIMIT_PERCENT})`, runs.map(function generatorCpu (r) { return loopOf(r).load.generatorCpuPercents.join(' + ') }))
  row('  others (machine − the above)', figures.map(function others (f) { return loopFiguresOf(f).othersCpuPercent }))
  row(`machine CPU % (all ${cores} cores)`, runs.map(function machine (r) { return loopOf(r).load.machineCpuPercent }))
  validRow('CPU µs per reading: gateway', figures, figures.map(function gatewayMicros (f) { return loopFiguresOf(f).micros.gateway }))
  validRow('  nats-servers (leader / follower)', figures, figures.map(function natsMicros (f) {
    const { micros } = loopFiguresOf(f)
    return micros.nats === null ? null : `${micros.nats} (${show(micros.natsLeader)} / ${show(micros.natsFollower)})`
  }))
  validRow('  gateway + nats-servers', figures, figures.map(function sumMicros (f) { return loopFiguresOf(f).micros.gatewayAndNats }))
  validRow('  influxd', figures, figures.map(function influxMicros (f) { return loopFiguresOf(f).micros.influxdb }))
  validRow('  load generators', figures, figures.map(function generatorMicros (f) { return loopFiguresOf(f).micros.generator }))
}

/** Readings acknowledged in the window per telemetry stream message stored in it. */
function readingsPerMessage ({ load, streamMessages }: MeasuredLoad): string | null {
  return streamMessages === null || streamMessages === 0 ? null : (load.ackedInWindow / streamMessages).toFixed(1)
}

function closedLoopOf (r: TopologyRun): MeasuredLoad { return r.closedLoop }
function openLoopOf (r: TopologyRun): MeasuredLoad { return r.openLoop }
function closedFiguresOf (f: TopologyFigures): LoopFigures { return f.closedLoop }
function openFiguresOf (f: TopologyFigures): LoopFigures { return f.openLoop }

export function printClusterTable (settings: Settings, runs: readonly TopologyRun[], figures: readonly TopologyFigures[], costs: readonly ReplicationCost[]): void {
  const cores = os.cpus().length
  const open = CLUSTER_OPEN_LOOP
  say('')
  say(`city-sensor-gateway cluster bench — ${settings.devices} devices, QoS 1: closed loop (${settings.window} in flight each) ${settings.durationSec} s measured after ${settings.warmupSec} s warm-up, then open loop at ${open.ratePerSec}/s for ${open.durationSec} s, per phase`)
  say(`${process.version} · ${os.cpus()[0]?.model ?? 'unknown CPU'} · ${cores} cores shared by every process below · ${settings.generators} load generator(s); a phase where one used > ${GENERATOR_CPU_LIMIT_PERCENT} % of a core is invalid`)
  say('')
  row('', runs.map(function heading (r) { return r.topology.label }))
  row('nats-servers / replicas', runs.map(function servers (r) { return r.topology.natsServers === 0 ? 'spool (fsync)' : `${r.topology.natsServers} / R${r.topology.replicas}` }))
  row('load average (1 min) at start', runs.map(function loadAverage (r) { return r.loadAverageAtStart.toFixed(2) }))
  validRow('acked readings/s (closed loop)', figures, runs.map(function acked (r) { return r.closedLoop.load.ackedPerSec }), true)
  validRow('  ÷ single node', figures, figures.map(function ratio (f) { return f.toSingleNode === null ? null : f.toSingleNode.toFixed(2) }))
  validRow('PUBACK p50 / p99 ms', figures, runs.map(function latency (r) { return pair(ms(r.closedLoop.load.latencyMs.p50), ms(r.closedLoop.load.latencyMs.p99)) }))
  validRow('PUBACK p99.9 / max ms', figures, runs.map(function tail (r) { return pair(ms(r.closedLoop.load.latencyMs.p999), ms(r.closedLoop.load.latencyMs.max)) }))
  validRow(`PUBACK p50 / p99 ms at ${open.ratePerSec}/s`, figures, runs.map(function openLatency (r) { return pair(ms(r.openLoop.load.latencyMs.p50), ms(r.openLoop.load.latencyMs.p99)) }))
  validRow('  p99.9 / max ms', figures, runs.map(function openTail (r) { return pair(ms(r.openLoop.load.latencyMs.p999), ms(r.openLoop.load.latencyMs.max)) }))
  row('failed / unacked (both loads)', runs.map(function failed (r) { return pair(r.closedLoop.load.failed + r.openLoop.load.failed, r.closedLoop.load.unacked + r.openLoop.load.unacked) }))
  row('stored − acked (both loads)', runs.map(function stored (r, i) { return (figures[i]?.missing ?? 0) > 0 ? `MISSING ${figures[i]?.missing}` : `+${r.stored.total - r.acked}` }))
  row('readings per group commit, whole run', runs.map(function perCommit (r) {
    const { records, commits } = r.gateway.groupCommits
    return commits === 0 ? null : (records / commits).toFixed(1)
  }))
  row('  per stream message: closed / open', runs.map(function perMessage (r) {
    return r.topology.natsServers === 0 ? null : pair(readingsPerMessage(r.closedLoop), readingsPerMessage(r.openLoop))
  }))
  row('backlog at load end, MB', runs.map(function backlog (r) { return (r.backlogAtLoadEnd.bytes / 1048576).toFixed(1) }))
  row('written out, ms after load end', runs.map(function drain (r) { return r.drainMs ?? `> ${CLUSTER_DRAIN_TIMEOUT_MS}` }))
  printCpuRows('closed loop:', runs, figures, closedLoopOf, closedFiguresOf)
  printCpuRows(`open loop at ${open.ratePerSec}/s:`, runs, figures, openLoopOf, openFiguresOf)
  row('gateway log warnings / errors, exit', runs.map(function log (r) { return `${r.gateway.log.warnings} / ${r.gateway.log.errors}, ${show(r.gateway.exitCode)}` }))
  say('')
  say('cost of replication (R3 against R1, same gateway processes):')
  for (const cost of costs) {
    say(`  ${cost.label}, closed loop: ${cost.throughput === null ? 'a phase is invalid' : `acked/s ×${cost.throughput.toFixed(2)}`}; ${describeLoopCost(cost.closedLoop)}`)
    say(`  ${cost.label}, open loop at ${open.ratePerSec}/s: ${describeLoopCost(cost.openLoop)}`)
  }
  for (const [i, run] of runs.entries()) {
    const loads = [run.closedLoop.load, run.openLoop.load]
    if (figures[i]?.isValid === false) say(`${run.topology.label}: INVALID — a load generator used more than ${GENERATOR_CPU_LIMIT_PERCENT} % of a core (${loads.map(function cpuOf (l) { return l.generatorCpuPercents.join(' + ') }).join(', then ')} %), so it may have been the limit`)
    const others = Math.max(figures[i]?.closedLoop.othersCpuPercent ?? 0, figures[i]?.openLoop.othersCpuPercent ?? 0)
    if (others > DISTURBED_PERCENT) say(`${run.topology.label}: processes outside the bench used up to ${others} % of a core meanwhile: its figures are lower than this machine gives`)
    const first = run.gateway.log.first[0]
    if (first !== undefined) {
      const err = first.err as { message?: unknown } | undefined
      say(`${run.topology.label}: gateway log ${run.gateway.log.warnings} warnings, ${run.gateway.log.errors} errors; first: ${typeof first.node === 'string' ? `${first.node} ` : ''}"${typeof first.msg === 'string' ? first.msg : ''}"${typeof err?.message === 'string' ? `: ${err.message}` : ''}`)
    }
  }
  say('')
}
