// Phase 8: a reconnect storm. A fresh gateway with 19,900 registered lamp posts; 19,700 of them
// connect (storm probes, their own processes) and hold. The gateway is stopped and started again
// on the same data and port; every device sees its connection close and reconnects as firmware
// does, then publishes one QoS 1 reading, while the other 200 (the lean load generator) publish as
// fast as they can from the moment the gateway is up. Leaves: per device CONNACK and PUBACK waits,
// the time until all are connected and acknowledged, RSS before, during and after, stored = acked.
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { FD_RESERVE } from '../../../broker/config.ts'
import { NETSTAT_FILE, parseListenOverflows } from '../../../broker/mqtt/listen-overflows.ts'
import { importDevices } from '../../../broker/registry/provision.ts'
import { registryPath } from '../../../broker/registry/store.ts'
import { freeLoopbackPort } from '../../../simulators/free-port.ts'
import { summariseMerged, type LatencySummary } from '../../../simulators/load/latency.ts'
import type { LocalInfluxDb } from '../../../simulators/local-influxdb.ts'
import { gatewayEnv, logProblems, startGateway, type LogProblems } from '../gateway.ts'
import { countStoredOfDevices } from '../influx-count.ts'
import { runLoad, type LoadDevices, type LoadRun } from '../load-run.ts'
import { scrape, spoolDepthOf } from '../metrics.ts'
import { cpuBetween, cpuSnapshot, type CpuWindow } from '../cpu.ts'
import { fdFigures, rssMb, startProcess, stopInReverse, type BenchProcess, type Stop } from '../processes.ts'
import { say } from '../say.ts'
import { REPO_ROOT, TARGETS, type Settings } from '../settings.ts'
import type { StormProbeReport, StormProbeSpec } from '../storm-probe.ts'

/** Registered devices, all lamp posts; the load generator's are among them. */
export const STORM_REGISTERED = 19_900
export const STORM_LOAD_DEVICES = 200
/** Each probe process holds a third of the storm's devices, well inside its own open-file limit. */
const STORM_PROBES = 3
const RSS_SAMPLE_MS = 250
/** RSS is read this long after the last PUBACK (or after the budget when some never came). */
const AFTER_SEC = 5
/** Fds the restarted gateway may need beyond its idle count and one per device (spool, InfluxDB, a refused socket). */
const FD_MARGIN = 64
const DRAIN_TIMEOUT_MS = 60_000
const STORM_PREFIX = 'storm-'
const LOAD_PREFIX = 'stormgen-'

export interface ReconnectStormRun {
  registered: number
  /** Storm devices asked to connect: 19,700, or fewer when the gateway's open-file limit cannot hold them all. */
  stormDevices: number
  loadDevices: number
  fdLimit: number | null
  fdsInUseIdle: number | null
  /** Step 1: storm devices connected and held, and how long connecting them took. */
  held: number
  holdMs: number
  closedByRestart: number
  closedBeforeStorm: number
  /** SIGTERM → the old gateway exited; SIGTERM → the new one logged "gateway started". */
  stopMs: number
  restartMs: number
  /** Within the budget (the storm targets' seconds after "gateway started"). */
  connected: number
  acked: number
  notConnected: number
  notAcked: number
  /** From "gateway started" to the last storm device's first CONNACK / last PUBACK; null: not all within the budget. */
  allConnectedMs: number | null
  allAckedMs: number | null
  /** From "gateway started" to the first storm device's CONNACK (negative: before the line was logged). */
  firstConnackMs: number | null
  /** TCP established → CONNACK, the attempt that got it. */
  connackWaitMs: LatencySummary
  /** The longest wait on an established connection for a CONNACK: answered, given up on, or still waiting at the budget's end. */
  longestConnackWaitMs: number
  /** First reconnect attempt → CONNACK, refused (gateway not up yet) and timed-out attempts included. */
  sinceFirstAttemptMs: LatencySummary
  /** Held connection closed by the restart → CONNACK: the outage as a device saw it. */
  sinceCloseMs: LatencySummary
  pubackWaitMs: LatencySummary
  /** Attempts a device needed until its CONNACK → devices. */
  attempts: Record<string, number>
  attemptsP50: number
  attemptsMax: number
  errors: Record<string, number>
  /** At the budget's end: devices waiting for a retry, a TCP connect, a CONNACK, a PUBACK. */
  pending: StormProbeReport['pending']
  /** Handshakes the kernel dropped on a full listen queue from the restart to the storm's end (host-wide: TcpExt ListenOverflows). */
  listenOverflows: number | null
  /** The restarted gateway's refusals and limits at the storm's end (`/metrics`). */
  gatewayCounters: Record<string, number>
  rssBeforeMb: number
  rssDuringMaxMb: number
  rssAfterMb: number
  /** From "gateway started" to the storm's end: the gateway's and InfluxDB's CPU (% of one core), the machine's (% of all cores). */
  cpu: CpuWindow
  /**
   * CPU (% of one core) the machine spent meanwhile beyond the gateway, InfluxDB, the probes, the
   * load generator and this runner: someone else's work, which makes the figures worse than they are.
   */
  othersCpuPercent: number | null
  load: LoadRun
  /** The load generator between "gateway started" (or its first publish) and the storm's end: its rate and CPU there. */
  loadDuringStorm: { fromMs: number; toMs: number; ackedPerSec: number; cpuPercent: number } | null
  probeCpuPercents: number[]
  /** The storm probes' event-loop delay, the most of any: how late they may have seen a CONNACK or PUBACK. */
  probeLoopDelayMs: { p99: number; max: number }
  drainMs: number | null
  storedStorm: number
  storedLoad: number
  gatewayLog: LogProblems
  exitCode: number | null
}

/** A LoadRun's acked rate and CPU between two epoch-ms times, from its timeline. */
function rateBetween (load: LoadRun, fromAt: number, toAt: number): ReconnectStormRun['loadDuringStorm'] {
  const timeline = load.timeline ?? []
  const first = timeline.find(function atOrAfter (s) { return s[0] >= fromAt })
  const last = timeline.findLast(function atOrBefore (s) { return s[0] <= toAt })
  if (first === undefined || last === undefined || last[0] - first[0] < 500) return null
  const ms = last[0] - first[0]
  return {
    fromMs: first[0] - fromAt,
    toMs: last[0] - fromAt,
    ackedPerSec: Math.round(((last[1] - first[1]) * 1000) / ms),
    cpuPercent: Math.round(((last[2] - first[2]) / ms) * 1000) / 10,
  }
}

function listenOverflows (): number | undefined {
  try {
    return parseListenOverflows(readFileSync(NETSTAT_FILE, 'utf8'))
  } catch {
    return undefined
  }
}

/** The counters of `/metrics` that say why connections were refused or cut. */
function refusalCounters (text: string): Record<string, number> {
  const counters: Record<string, number> = {}
  for (const line of text.split('\n')) {
    if (!/^citygw_(limits_exceeded|auth_failures|mqtt_connections_accepted|protocol_errors)_total\{/.test(line)) continue
    const space = line.lastIndexOf(' ')
    counters[line.slice('citygw_'.length, space)] = Number(line.slice(space + 1))
  }
  return counters
}

function attemptsPercentile (distribution: Record<string, number>, percent: number): number {
  const entries = Object.entries(distribution).map(function toPair ([k, n]) { return [Number(k), n] as const }).sort(function byAttempts (a, b) { return a[0] - b[0] })
  const total = entries.reduce(function sum (s, [, n]) { return s + n }, 0)
  let seen = 0
  for (const [attempts, n] of entries) {
    seen += n
    if (seen >= (total * percent) / 100) return attempts
  }
  return 0
}

async function startProbes (port: number, credentials: StormProbeSpec['devices'], tmp: string, stops: Stop[]): Promise<BenchProcess[]> {
  const probes: BenchProcess[] = []
  for (let p = 0; p < STORM_PROBES; p++) {
    const spec: StormProbeSpec = {
      port,
      devices: credentials.filter(function ofProbe (_, i) { return i % STORM_PROBES === p }),
      concurrency: 50,
      // No PINGREQ is sent: a keepalive longer than the phase keeps the gateway from closing idle devices.
      keepaliveSec: 600,
      // The repository's device simulator's connect timeout and backoff (simulators/connection.ts), capped at 5 s.
      attemptTimeoutMs: 10_000,
      firstDelayMaxMs: 3000,
      backoffBaseMs: 500,
      backoffMaxMs: 5000,
      maxSec: 600,
    }
    const specFile = join(tmp, `storm-probe-${p}.json`)
    await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 })
    const probe = startProcess(`storm probe ${p}`, ['--import', 'tsx', join(REPO_ROOT, 'test/bench/storm-probe.ts'), specFile], { cwd: REPO_ROOT, env: process.env })
    stops.push(function stopProbe () { return probe.stop(3000) })
    probes.push(probe)
  }
  for (const probe of probes) await probe.waitForLine(function isReady (l) { return l.type === 'ready' }, 20_000)
  return probes
}

/** The gateway's RSS every RSS_SAMPLE_MS, as [epoch ms, MB], until stopped. */
function sampleRss (pid: number): { samples: [number, number][]; stop: () => Promise<void> } {
  const samples: [number, number][] = []
  let isSampling = true
  const loop = (async function sample () {
    while (isSampling) {
      const mb = rssMb(pid)
      if (Number.isFinite(mb)) samples.push([Date.now(), mb])
      await sleep(RSS_SAMPLE_MS)
    }
  })()
  return { samples, async stop () { isSampling = false; await loop } }
}

/** Waits until the gateway's spool is empty; the ms it took, or null when it did not within DRAIN_TIMEOUT_MS. */
async function waitForDrain (httpUrl: string): Promise<number | null> {
  const start = performance.now()
  while (performance.now() - start < DRAIN_TIMEOUT_MS) {
    if (spoolDepthOf(await scrape(httpUrl)).records === 0) return Math.round(performance.now() - start)
    await sleep(200)
  }
  return null
}

export async function runReconnectStorm (settings: Settings, tmp: string, influx: LocalInfluxDb): Promise<ReconnectStormRun> {
  const budgetMs = Math.max(TARGETS.stormAllConnectedSec, TARGETS.stormAllAckedSec) * 1000
  say(`reconnect storm: a fresh gateway, ${STORM_REGISTERED} lamp posts registered…`)
  const dataDir = join(tmp, 'gateway-storm')
  const ids = Array.from({ length: STORM_REGISTERED }, function idOf (_, i) {
    return i < STORM_LOAD_DEVICES ? `${LOAD_PREFIX}${String(i).padStart(3, '0')}` : `${STORM_PREFIX}${String(i - STORM_LOAD_DEVICES).padStart(5, '0')}`
  })
  const lines = ids.map(function toJsonLine (id, i) { return JSON.stringify({ id, kind: 'lamp-post', district: `district-${i % 8}` }) })
  const credentials = await importDevices(registryPath(dataDir), lines.join('\n'))
  const loadDevices: LoadDevices = credentials.slice(0, STORM_LOAD_DEVICES).map(function asLoadDevice (c) { return { id: c.id, secret: c.secret, kind: 'lamp-post' as const } })
  // The same port after the restart, as devices in the field know it.
  const port = await freeLoopbackPort()
  const env = { ...gatewayEnv(dataDir, influx.url), MQTT_PORT: String(port) }
  const stops: Stop[] = []
  function isStarted (l: Record<string, unknown>): boolean { return l.msg === 'gateway started' }
  try {
    const first = startGateway('gateway (storm)', env)
    stops.push(function stopFirst () { return first.stop(15_000) })
    await first.waitForLine(isStarted, 60_000)
    const fds = await fdFigures(first.pid)
    // Each connection is one fd in the gateway: stay below its limit rather than hit EMFILE.
    // The gateway holds at most its open-file limit minus FD_RESERVE connections (open-file-limit.ts),
    // and during the storm some of them are ones their device already gave up on.
    const capacity = fds.limit === null ? Number.POSITIVE_INFINITY : fds.limit - FD_RESERVE - FD_MARGIN
    const wanted = STORM_REGISTERED - STORM_LOAD_DEVICES
    const stormDevices = Math.max(0, Math.min(wanted, capacity - STORM_LOAD_DEVICES))
    if (stormDevices < wanted) say(`  capped: ${stormDevices} storm devices + ${STORM_LOAD_DEVICES} publishing (of ${STORM_REGISTERED}) by the gateway's open-file limit ${String(fds.limit)} (less its reserve of ${FD_RESERVE} and a margin of ${FD_MARGIN})`)
    const probes = await startProbes(port, credentials.slice(STORM_LOAD_DEVICES, STORM_LOAD_DEVICES + stormDevices), tmp, stops)

    for (const probe of probes) probe.child.stdin?.write('connect\n')
    const heldLines = await Promise.all(probes.map(function waitHeld (probe) {
      return probe.waitForLine<{ held: number; ms: number; errors: Record<string, number> }>(function isHeld (l) { return l.type === 'held' }, 300_000)
    }))
    const held = heldLines.reduce(function sum (n, l) { return n + l.held }, 0)
    const holdMs = Math.max(...heldLines.map(function msOf (l) { return l.ms }))
    await sleep(2000)
    const rssBeforeMb = rssMb(first.pid)
    say(`  ${held} of ${stormDevices} held (${holdMs} ms); RSS ${rssBeforeMb} MB; restarting the gateway…`)

    const overflowsBefore = listenOverflows()
    for (const probe of probes) probe.child.stdin?.write('storm\n')
    const sigtermAt = Date.now()
    await first.stop(15_000)
    const stopMs = Date.now() - sigtermAt
    const exitCodeFirst = await first.exited
    const gateway = startGateway('gateway (storm, restarted)', env)
    stops.push(function stopGateway () { return gateway.stop(15_000) })
    const sampler = sampleRss(gateway.pid)
    const started = await gateway.waitForLine<{ time?: number; ports: { http: number } }>(isStarted, 60_000)
    const startedAt = typeof started.time === 'number' ? started.time : Date.now()
    const httpUrl = `http://127.0.0.1:${started.ports.http}`
    for (const probe of probes) probe.child.stdin?.write('started\n')
    const cpuAtStart = cpuSnapshot(gateway.pid, influx.pid)
    const runnerCpuAtStart = process.cpuUsage()
    const loading = runLoad('storm', `mqtt://127.0.0.1:${port}`, gateway.pid, loadDevices,
      { ...settings, devices: STORM_LOAD_DEVICES, generators: 1, generator: 'lean' },
      // All at once, each publishing from its CONNACK on: the load is there while the storm's
      // connects arrive, whichever of its devices the gateway takes first.
      tmp, { warmupSec: 0, durationSec: budgetMs / 1000, database: influx, timelineEveryMs: RSS_SAMPLE_MS, connectConcurrency: STORM_LOAD_DEVICES, startOnConnect: true })
    // Rejections are taken where it is awaited; until then it must not count as unhandled.
    loading.catch(function later () { /* awaited below */ })

    const allDone = Promise.all(probes.map(function waitDone (probe) { return probe.waitForLine(function isDone (l) { return l.type === 'done' }, budgetMs + 60_000) }))
    await Promise.race([allDone.catch(function notAll () { /* the budget decides */ }), sleep(Math.max(0, startedAt + budgetMs - Date.now()))])
    const cpuAtEnd = cpuSnapshot(gateway.pid, influx.pid)
    const cpu = cpuBetween(cpuAtStart, cpuAtEnd)
    const runnerCpu = process.cpuUsage(runnerCpuAtStart)
    const runnerCpuPercent = ((runnerCpu.user + runnerCpu.system) / 10) / (cpuAtEnd.at - cpuAtStart.at)
    for (const probe of probes) probe.child.stdin?.write('report\n')
    const reports = await Promise.all(probes.map(function waitReport (probe) { return probe.waitForLine<StormProbeReport>(function isReport (l) { return l.type === 'report' }, 20_000) }))
    const overflowsAfter = listenOverflows()
    const gatewayCounters = refusalCounters(await scrape(httpUrl))

    const sum = function sum (pick: (r: StormProbeReport) => number): number { return reports.reduce(function add (n, r) { return n + pick(r) }, 0) }
    const latest = function latest (pick: (r: StormProbeReport) => number | null): number | null {
      const values = reports.map(pick)
      return values.some(function isNull (v) { return v === null }) ? null : Math.max(...values as number[])
    }
    const stormHeld = sum(function heldOf (r) { return r.held })
    const connected = sum(function connectedOf (r) { return r.connected })
    const acked = sum(function ackedOf (r) { return r.acked })
    const lastConnackAt = connected === stormHeld ? latest(function lastConnack (r) { return r.lastConnackAt }) : null
    const lastPubackAt = acked === stormHeld ? latest(function lastPuback (r) { return r.lastPubackAt }) : null
    const firstConnacks = reports.map(function firstOf (r) { return r.firstConnackAt }).filter(function isSet (v): v is number { return v !== null })
    const stormEndAt = lastPubackAt ?? startedAt + budgetMs
    await sleep(Math.max(0, stormEndAt + AFTER_SEC * 1000 - Date.now()))
    const rssAfterMb = rssMb(gateway.pid)
    await sampler.stop()
    const during = sampler.samples.filter(function inStorm ([t]) { return t >= startedAt && t <= stormEndAt })
    const merge = function merge (pick: (r: StormProbeReport) => string): LatencySummary { return summariseMerged(reports.map(pick)) }
    const attempts: Record<string, number> = {}
    const errors: Record<string, number> = {}
    const pending = { backoff: 0, tcp: 0, connack: 0, puback: 0, connackWaitMaxMs: 0 }
    for (const r of reports) {
      for (const [k, n] of Object.entries(r.attempts)) attempts[k] = (attempts[k] ?? 0) + n
      for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n
      pending.backoff += r.pending.backoff
      pending.tcp += r.pending.tcp
      pending.connack += r.pending.connack
      pending.puback += r.pending.puback
      pending.connackWaitMaxMs = Math.max(pending.connackWaitMaxMs, r.pending.connackWaitMaxMs)
    }
    const connackWaitMs = merge(function connackOf (r) { return r.connackWait })

    const load = await loading
    const loadDuringStorm = rateBetween(load, startedAt, stormEndAt)
    const known = [cpu.brokerCpuPercent, cpu.databaseCpuPercent, loadDuringStorm?.cpuPercent ?? 0, runnerCpuPercent, ...reports.map(function cpuOf (r) { return r.cpuPercent })]
    const othersCpuPercent = cpu.machineCpuPercent === null || known.includes(null)
      ? null
      : Math.round(cpu.machineCpuPercent * os.cpus().length - known.reduce(function add (a: number, b) { return a + (b ?? 0) }, 0))
    for (const probe of probes) probe.child.stdin?.write('stop\n')
    say('  waiting for the writer to drain the spool…')
    const drainMs = await waitForDrain(httpUrl)
    let storedStorm = await countStoredOfDevices(influx, STORM_PREFIX)
    let storedLoad = await countStoredOfDevices(influx, LOAD_PREFIX)
    // InfluxDB 1.x answers a write once it is queryable; a short grace all the same.
    for (let attempt = 0; attempt < 10 && (storedStorm < acked || storedLoad < load.acked); attempt++) {
      await sleep(300)
      storedStorm = await countStoredOfDevices(influx, STORM_PREFIX)
      storedLoad = await countStoredOfDevices(influx, LOAD_PREFIX)
    }
    await gateway.stop(15_000)
    const exitCode = await gateway.exited
    if (exitCodeFirst !== 0) say(`  the first gateway exited with ${String(exitCodeFirst)} on SIGTERM`)

    return {
      registered: STORM_REGISTERED,
      stormDevices,
      loadDevices: STORM_LOAD_DEVICES,
      fdLimit: fds.limit,
      fdsInUseIdle: fds.inUse,
      held,
      holdMs,
      closedByRestart: sum(function closedOf (r) { return r.closedByRestart }),
      closedBeforeStorm: sum(function earlyOf (r) { return r.closedBeforeStorm }),
      stopMs,
      restartMs: startedAt - sigtermAt,
      connected,
      acked,
      notConnected: stormHeld - connected,
      notAcked: stormHeld - acked,
      allConnectedMs: lastConnackAt === null ? null : Math.round(lastConnackAt - startedAt),
      allAckedMs: lastPubackAt === null ? null : Math.round(lastPubackAt - startedAt),
      firstConnackMs: firstConnacks.length === 0 ? null : Math.round(Math.min(...firstConnacks) - startedAt),
      connackWaitMs,
      longestConnackWaitMs: Math.max(connackWaitMs.max, ...reports.map(function failedOf (r) { return r.failedConnackWaitMaxMs }), pending.connackWaitMaxMs),
      sinceFirstAttemptMs: merge(function sinceFirstOf (r) { return r.sinceFirstAttempt }),
      sinceCloseMs: merge(function sinceCloseOf (r) { return r.sinceClose }),
      pubackWaitMs: merge(function pubackOf (r) { return r.pubackWait }),
      attempts,
      attemptsP50: attemptsPercentile(attempts, 50),
      attemptsMax: Math.max(0, ...Object.keys(attempts).map(Number)),
      errors,
      pending,
      listenOverflows: overflowsBefore === undefined || overflowsAfter === undefined ? null : overflowsAfter - overflowsBefore,
      gatewayCounters,
      rssBeforeMb,
      rssDuringMaxMb: Math.max(0, ...during.map(function mbOf ([, mb]) { return mb })),
      rssAfterMb,
      cpu,
      othersCpuPercent,
      load,
      loadDuringStorm,
      probeCpuPercents: reports.map(function cpuOf (r) { return r.cpuPercent }),
      probeLoopDelayMs: {
        p99: Math.max(...reports.map(function p99Of (r) { return r.loopDelayMs.p99 })),
        max: Math.max(...reports.map(function maxOf (r) { return r.loopDelayMs.max })),
      },
      drainMs,
      storedStorm,
      storedLoad,
      gatewayLog: logProblems(gateway.lines()),
      exitCode,
    }
  } finally {
    await stopInReverse(stops, 'reconnect storm cleanup')
  }
}

/** Acknowledged readings missing from InfluxDB after the drain: lost data (the bench then exits 1). */
export function stormLost (run: ReconnectStormRun): number {
  if (run.drainMs === null) return 0
  return Math.max(0, run.acked - run.storedStorm) + Math.max(0, run.load.acked - run.storedLoad)
}
