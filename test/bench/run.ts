// `npm run bench`: end-to-end throughput of the gateway against a bare Aedes 1.2 baseline, in one
// run, each broker and the load generator in its own process, everything on 127.0.0.1 with free
// ports and temp dirs. Leaves: a table on stderr, one JSON object on stdout and in .bench/results.json.
// Figures only: nothing is asserted on timings; the exit code is 1 only if the gateway lost data.
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { connect } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CONFIG_KEYS } from '../../broker/config.ts'
import { addCrew, importDevices } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { freeLoopbackPort } from '../../simulators/free-port.ts'
import { startLocalInfluxDb, type LocalInfluxDb } from '../../simulators/local-influxdb.ts'
import { summariseCpuProfile, type ProfileSummary } from './cpu-profile.ts'
import type { AlarmProbeResult, AlarmProbeSpec } from './alarm-probe.ts'
import type { ConnectProbeSpec } from './connect-probe.ts'
import { cpuMicrosPerMessage } from './cpu.ts'
import { countPeerStored, countStored } from './influx-count.ts'
import { makeDevices, runLoad, type LoadDevices, type LoadRun } from './load-run.ts'
import { metricValue, scrape, spoolDepthOf, type SpoolDepth } from './metrics.ts'
import { fdFigures, rssMb, startProcess, type BenchProcess } from './processes.ts'
import { say } from './say.ts'
import { KINDS, REPO_ROOT, RESULTS_DIR, TARGETS, TARGET_RATIO, readSettings, type Settings } from './settings.ts'

const DRAIN_TIMEOUT_MS = 60_000
const ALARM_DEVICES = 10
/** The bare Aedes run at the alarm phase's rate measures CPU only: a few seconds suffice. */
const BARE_OPEN_LOOP_SEC = 5
const ALARM_DISTRICT = 'bench-alarms'
const CREW_NAME = 'bench-crew'

// ── baseline ─────────────────────────────────────────────────────────────────

async function runBaseline (settings: Settings, devices: LoadDevices, tmp: string, openLoop?: { ratePerSec: number; durationSec: number }): Promise<LoadRun> {
  say(openLoop === undefined
    ? 'bare Aedes 1.2 (no auth, no validation, no storage)…'
    : `bare Aedes 1.2 again, open loop at the alarm phase's ${openLoop.ratePerSec} msgs/s (what that rate costs the broker alone)…`)
  const broker = startProcess('bare aedes', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/bare-aedes.ts')], { cwd: REPO_ROOT, env: process.env })
  try {
    const { port } = await broker.waitForLine<{ port: number }>(function isStarted (l) { return l.msg === 'bare aedes started' }, 20_000)
    return await runLoad(openLoop === undefined ? 'bare-aedes' : 'bare-aedes-open', `mqtt://127.0.0.1:${port}`, broker.pid, devices, settings, tmp,
      openLoop === undefined ? {} : { ratePerSec: openLoop.ratePerSec, warmupSec: 1, durationSec: openLoop.durationSec })
  } finally {
    await broker.stop(5000)
  }
}

// ── peer: Mosquitto + a plain Node bridge ────────────────────────────────────

const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto']

function mosquittoPath (): string {
  const found = MOSQUITTO_PATHS.find(function exists (p) { return existsSync(p) })
  if (found === undefined) throw new Error('mosquitto is missing: the peer baseline runs Debian\'s broker (apt-get install -y mosquitto)')
  return found
}

async function waitForPort (port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const isOpen = await new Promise<boolean>(function probe (resolve) {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', function opened () { socket.destroy(); resolve(true) })
      socket.once('error', function refused () { resolve(false) })
    })
    if (isOpen) return
    await sleep(100)
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
}

interface PeerRun {
  load: LoadRun
  /** Readings whose receive time lies in the measured window, per second. */
  storedPerSec: number
  storedInWindow: number
  stored: number
  bridge: { received?: number; written?: number; writeErrors?: number }
  flushMs: number
}

async function runPeerBench (settings: Settings, devices: LoadDevices, tmp: string): Promise<PeerRun> {
  const mosquitto = mosquittoPath()
  say('peer: Mosquitto + MQTT.js → @influxdata/influxdb-client bridge, InfluxDB 1.x…')
  const influx = await startLocalInfluxDb(join(tmp, 'influxdb-peer'), 'city') // killed on exit, like every child
  const stops: (() => Promise<void>)[] = [function stopInflux () { return influx.stop() }]
  try {
    const port = await freeLoopbackPort()
    const configFile = join(tmp, 'mosquitto.conf')
    await writeFile(configFile, [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'))
    const broker = startProcess('mosquitto', ['-c', configFile], { cwd: tmp, env: process.env, command: mosquitto })
    stops.push(function stopMosquitto () { return broker.stop(5000) })
    await waitForPort(port, 10_000)
    const mqttUrl = `mqtt://127.0.0.1:${port}`
    const bridge = startProcess('peer bridge', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/peer-bridge.ts')], {
      cwd: REPO_ROOT, env: { ...process.env, PEER_MQTT_URL: mqttUrl, PEER_INFLUX_URL: influx.url, PEER_DATABASE: 'city' },
    })
    stops.push(function stopBridge () { return bridge.stop(10_000) })
    await bridge.waitForLine(function isReady (l) { return l.msg === 'bridge ready' }, 20_000)
    let windowStartMs = 0
    let windowEndMs = 0
    const load = await runLoad('peer', mqttUrl, broker.pid, devices, settings, tmp, {
      onWindowStart () { windowStartMs = Date.now() },
      onLoadEnd () { windowEndMs = Date.now() },
    })
    // The WriteApi holds up to a batch (1000 lines) until its 60 s flush interval or close(): wait
    // for the count to stop growing, then stop the bridge (it flushes on SIGTERM).
    const flushStart = performance.now()
    let last = -1
    for (let i = 0; i < 40; i++) {
      const n = await countPeerStored(influx)
      if (n === last) break
      last = n
      await sleep(750)
    }
    await bridge.stop(15_000)
    const flushMs = Math.round(performance.now() - flushStart)
    const stopped = bridge.lines().find(function isStopped (l) { return l.msg === 'bridge stopped' }) as PeerRun['bridge'] | undefined
    const stored = await countPeerStored(influx)
    const storedInWindow = await countPeerStored(influx, `time >= ${windowStartMs}ms AND time < ${windowEndMs}ms`)
    const windowSec = Math.max(0.001, (windowEndMs - windowStartMs) / 1000)
    return { load, storedPerSec: Math.round(storedInWindow / windowSec), storedInWindow, stored, bridge: stopped ?? {}, flushMs }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(function reportStop (err: unknown) { say(`peer cleanup failed: ${String(err)}`) })
  }
}

// ── gateway ──────────────────────────────────────────────────────────────────

interface GatewayRun {
  load: LoadRun
  spoolAtLoadEnd: SpoolDepth
  spoolMax: SpoolDepth
  drainMs: number | null
  stored: Awaited<ReturnType<typeof countStored>>
  metrics: Record<string, number | undefined>
  warnings: number
  errors: number
  firstProblems: string[]
  /** The first warn/error log lines as logged, for the JSON report. */
  problemLines: Record<string, unknown>[]
  exitCode: number | null
  profile?: { file: string; summary: ProfileSummary }
  alarm: AlarmRun
  /** The same at a quarter of the throughput rate (information, no target). */
  alarmQuarter: AlarmRun
  outage: OutageRun
  influxUrl: string
}

function gatewayEnv (dataDir: string, influxUrl: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // The developer's own gateway settings must not leak into the measured configuration.
  for (const key of [...CONFIG_KEYS, 'CONFIG_FILE']) delete env[key]
  return {
    ...env,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    DATA_DIR: dataDir,
    INFLUX_URL: influxUrl,
    INFLUX_API: 'v1',
    INFLUX_DATABASE: 'city',
    LOG_LEVEL: 'info',
    // The load generator is one trusted address pushing every device as fast as it can: the
    // abuse limits (per-device rate, connections per IP) would drop acknowledged readings and
    // spoil the stored = acked check, so the bench lifts them.
    PUBLISH_RATE_PER_SEC: '1000000',
    PUBLISH_BURST: '1000000',
    MAX_CONNECTIONS_PER_IP: '100000',
    MAX_CONNECTIONS: '100000',
  }
}

/** The gateway as `npm start` runs it (the compiled build, its node flags); `exec` keeps the pid node's. */
function startGateway (name: string, env: NodeJS.ProcessEnv): BenchProcess {
  return startProcess(name, [join(REPO_ROOT, 'scripts/start.sh')], { command: 'bash', cwd: REPO_ROOT, env })
}

async function largestFile (dir: string, suffix: string): Promise<string | undefined> {
  let best: { file: string; size: number } | undefined
  for (const name of await readdir(dir).catch(function noDir () { return [] as string[] })) {
    if (!name.endsWith(suffix)) continue
    const file = join(dir, name)
    const { size } = await stat(file)
    if (best === undefined || size > best.size) best = { file, size }
  }
  return best?.file
}

interface AlarmRun {
  ratePerSec: number
  load: LoadRun
  probe: AlarmProbeResult
  /** The same probe with no other load first: what the alarm path itself costs. */
  idle: AlarmProbeResult
}

const ALARM_IDLE_SEC = 3

/**
 * Open-loop load at each of `rates` in turn while the alarm probe cycles coverOpen on its own
 * devices. One probe process throughout: its readings' times move on from round to round (the
 * engine does not judge a reading older than the newest it saw from a device).
 */
async function runAlarmPhase (
  mqttUrl: string, gatewayPid: number, database: LocalInfluxDb, loadDevices: LoadDevices, probeSpec: AlarmProbeSpec, rates: readonly number[], settings: Settings, tmp: string,
): Promise<AlarmRun[]> {
  say(`alarm latency: ${probeSpec.devices.length} manholes cycling coverOpen, crew on alarms/#, load at ${rates.join(', then ')} msgs/s…`)
  const specFile = join(tmp, 'alarm-probe.json')
  await writeFile(specFile, JSON.stringify(probeSpec), { mode: 0o600 })
  const probe = startProcess('alarm probe', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/alarm-probe.ts'), specFile], { cwd: REPO_ROOT, env: process.env })
  try {
    await probe.waitForLine(function isReady (l) { return l.type === 'ready' }, 20_000)
    probe.child.stdin?.write('start\n')
    await sleep(ALARM_IDLE_SEC * 1000)
    probe.child.stdin?.write('stop\n')
    const idle = await probe.waitForLine<AlarmProbeResult>(function isIdleResult (l) { return l.type === 'result' && l.round === 1 }, 30_000)
    const runs: AlarmRun[] = []
    for (const [index, ratePerSec] of rates.entries()) {
      const load = await runLoad('gateway-alarms', mqttUrl, gatewayPid, loadDevices, settings, tmp, {
        ratePerSec,
        warmupSec: 1,
        durationSec: settings.alarmSec,
        database,
        onWindowStart () { probe.child.stdin?.write('start\n') },
        onLoadEnd () { probe.child.stdin?.write('stop\n') },
      })
      const round = index + 2
      const result = await probe.waitForLine<AlarmProbeResult>(function isResult (l) { return l.type === 'result' && l.round === round }, 30_000)
      runs.push({ ratePerSec, load, probe: result, idle })
    }
    probe.child.stdin?.write('quit\n')
    return runs
  } finally {
    await probe.stop(3000)
  }
}

interface OutageRun {
  ratePerSec: number
  outageSec: number
  load: LoadRun
  /** RSS (MB) just before influxd stopped, the most during the outage, the most while catching up. */
  rssBeforeMb: number
  rssBeforeMaxMb: number
  rssDuringMaxMb: number
  rssCatchUpMaxMb: number
  spoolPeakRecords: number
  spoolPeakBytes: number
  /** From influxd answering again to the spool back at its pre-outage depth; null if not within the budget. */
  catchUpMs: number | null
  catchUpLinesPerSec: number
  influxRestartMs: number
  /** Warnings and errors the gateway logged from the alarm phase on (the outage's are expected). */
  gatewayLogWarnings?: number
  gatewayLogErrors?: number
  gatewayLogProblems?: Record<string, unknown>[]
}

const OUTAGE_PRE_SEC = 5

/** Open-loop load at `ratePerSec`; influxd is stopped for `outageSec` in the middle of it. */
async function runOutagePhase (
  mqttUrl: string, gatewayPid: number, httpUrl: string, influx: LocalInfluxDb, loadDevices: LoadDevices, ratePerSec: number, settings: Settings, tmp: string,
): Promise<OutageRun> {
  const outageSec = settings.outageSec
  const catchUpBudgetSec = Math.max(30, 2 * outageSec)
  say(`outage: load at ${ratePerSec} msgs/s, InfluxDB stopped for ${outageSec} s after ${OUTAGE_PRE_SEC} s…`)
  const result: Omit<OutageRun, 'load'> = {
    ratePerSec, outageSec, rssBeforeMb: Number.NaN, rssBeforeMaxMb: 0, rssDuringMaxMb: 0, rssCatchUpMaxMb: 0,
    spoolPeakRecords: 0, spoolPeakBytes: 0, catchUpMs: null, catchUpLinesPerSec: 0, influxRestartMs: 0,
  }
  async function sample (): Promise<{ rss: number; depth: SpoolDepth; written: number }> {
    const text = await scrape(httpUrl)
    const depth = spoolDepthOf(text)
    result.spoolPeakRecords = Math.max(result.spoolPeakRecords, depth.records)
    result.spoolPeakBytes = Math.max(result.spoolPeakBytes, depth.bytes)
    return { rss: rssMb(gatewayPid), depth, written: metricValue(text, 'citygw_influx_lines_written_total') ?? 0 }
  }
  let influxDown = false
  try {
    const load = await runLoad('gateway-outage', mqttUrl, gatewayPid, loadDevices, settings, tmp, {
      ratePerSec,
      warmupSec: 1,
      durationSec: OUTAGE_PRE_SEC + outageSec + catchUpBudgetSec + 5,
      async onWindowStart (stopLoad) {
        let preDepthMax = 0
        const preEnd = performance.now() + OUTAGE_PRE_SEC * 1000
        while (performance.now() < preEnd) {
          const s = await sample()
          result.rssBeforeMaxMb = Math.max(result.rssBeforeMaxMb, s.rss)
          result.rssBeforeMb = s.rss
          preDepthMax = Math.max(preDepthMax, s.depth.records)
          await sleep(250)
        }
        const peakBefore = result.spoolPeakRecords
        say(`  stopping InfluxDB (RSS ${result.rssBeforeMb} MB, spool ${preDepthMax} records)…`)
        influxDown = true
        await influx.stop()
        const outageEnd = performance.now() + outageSec * 1000
        while (performance.now() < outageEnd) {
          result.rssDuringMaxMb = Math.max(result.rssDuringMaxMb, (await sample()).rss)
          await sleep(250)
        }
        const restartStart = performance.now()
        await influx.start()
        influxDown = false
        const returnedAt = performance.now()
        result.influxRestartMs = Math.round(returnedAt - restartStart)
        const writtenAtReturn = (await sample()).written
        say(`  InfluxDB back (spool ${result.spoolPeakRecords} records at most); catching up…`)
        // Caught up = the spool is back to the depth it had under the same load before the outage.
        const caughtUpDepth = Math.max(preDepthMax, peakBefore, Math.ceil(ratePerSec / 2))
        const budgetEnd = returnedAt + catchUpBudgetSec * 1000
        while (performance.now() < budgetEnd) {
          const s = await sample()
          result.rssCatchUpMaxMb = Math.max(result.rssCatchUpMaxMb, s.rss)
          if (s.depth.records <= caughtUpDepth) {
            result.catchUpMs = Math.round(performance.now() - returnedAt)
            result.catchUpLinesPerSec = Math.round((s.written - writtenAtReturn) / Math.max(0.001, result.catchUpMs / 1000))
            break
          }
          await sleep(100)
        }
        stopLoad()
      },
    })
    return { ...result, load }
  } finally {
    if (influxDown) await influx.start()
  }
}

async function runGatewayBench (
  settings: Settings, devices: ReturnType<typeof makeDevices>, tmp: string, cleanups: (() => Promise<void>)[],
): Promise<GatewayRun> {
  say('InfluxDB 1.x…')
  const influx = await startLocalInfluxDb(join(tmp, 'influxdb'), 'city')
  cleanups.push(function stopInflux () { return influx.stop() })

  const dataDir = join(tmp, 'gateway-data')
  const jsonLines = devices.map(function toJsonLine (d) { return JSON.stringify(d) }).join('\n')
  const probeDevices = Array.from({ length: ALARM_DEVICES }, function makeProbeDevice (_, i) {
    return { id: `alarm-${String(i).padStart(3, '0')}`, kind: 'manhole' as const, district: ALARM_DISTRICT }
  })
  const allLines = [jsonLines, ...probeDevices.map(function toJsonLine (d) { return JSON.stringify(d) })].join('\n')
  const credentials = await importDevices(registryPath(dataDir), allLines)
  const crew = await addCrew(registryPath(dataDir), CREW_NAME)
  const secretOf = new Map(credentials.map(function byId (c) { return [c.id, c.secret] as const }))
  const loadDevices = devices.map(function withSecret (d) {
    const secret = secretOf.get(d.id)
    if (secret === undefined) throw new Error(`no secret for ${d.id}`)
    return { id: d.id, kind: d.kind, secret }
  })

  const profileDir = join(tmp, 'cpu-profile')
  const profileEnv = settings.isProfiling ? { CITYGW_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {}
  say(`gateway (npm start: scripts/start.sh${settings.isProfiling ? ', with --cpu-prof' : ''}), ${devices.length} devices imported…`)
  const gateway: BenchProcess = startGateway('gateway', { ...gatewayEnv(dataDir, influx.url), ...profileEnv })
  cleanups.push(function stopGateway () { return gateway.stop() })
  const started = await gateway.waitForLine<{ ports: { mqtt: number; http: number } }>(function isStarted (l) { return l.msg === 'gateway started' }, 30_000)
  const httpUrl = `http://127.0.0.1:${started.ports.http}`

  // Spool depth once a second during the load, to see whether the writer keeps up.
  const spoolMax: SpoolDepth = { records: 0, bytes: 0 }
  let isSampling = true
  const sampling = (async function sampleSpool () {
    while (isSampling) {
      try {
        const depth = spoolDepthOf(await scrape(httpUrl))
        spoolMax.records = Math.max(spoolMax.records, depth.records)
        spoolMax.bytes = Math.max(spoolMax.bytes, depth.bytes)
      } catch (err) {
        // A missed sample only lowers the maximum seen; a dead gateway fails the load itself.
        say(`  /metrics sample failed: ${err instanceof Error ? err.message : String(err)}`)
      }
      await sleep(1000)
    }
  })()

  let spoolAtLoadEnd: SpoolDepth = { records: Number.NaN, bytes: Number.NaN }
  let load: LoadRun
  try {
    load = await runLoad('gateway', `mqtt://127.0.0.1:${started.ports.mqtt}`, gateway.pid, loadDevices, settings, tmp, {
      database: influx,
      async onLoadEnd () { spoolAtLoadEnd = spoolDepthOf(await scrape(httpUrl)) },
    })
  } finally {
    isSampling = false
    await sampling
  }
  spoolMax.records = Math.max(spoolMax.records, spoolAtLoadEnd.records)
  spoolMax.bytes = Math.max(spoolMax.bytes, spoolAtLoadEnd.bytes)

  say('  waiting for the writer to drain the spool…')
  let drainMs: number | null = null
  const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS
  while (performance.now() < drainDeadline) {
    if (spoolDepthOf(await scrape(httpUrl)).records === 0) {
      drainMs = Math.round(performance.now() - load.loadEndAtMs)
      break
    }
    await sleep(200)
  }
  // InfluxDB 1.x answers a write once it is in its WAL and queryable; a short grace all the same.
  let stored = await countStored(influx)
  for (let attempt = 0; attempt < 10 && stored.total < load.acked; attempt++) {
    await sleep(300)
    stored = await countStored(influx)
  }
  const text = await scrape(httpUrl)
  const mqttUrl = `mqtt://127.0.0.1:${started.ports.mqtt}`
  // The log row describes the throughput run; the outage below warns on purpose.
  const linesOfThroughputRun = gateway.lines().length
  const probeSpec: AlarmProbeSpec = {
    url: mqttUrl,
    crew: { name: crew.id, secret: crew.secret },
    devices: probeDevices.map(function withProbeSecret (d) { return { id: d.id, secret: secretOf.get(d.id) ?? '' } }),
    pauseMs: 200,
    messageTimeoutMs: 5000,
    maxSec: settings.alarmSec + 120,
  }
  // Half the throughput rate (the target), then a quarter (no target: where the curve stands at half that load).
  const [alarm, alarmQuarter] = await runAlarmPhase(mqttUrl, gateway.pid, influx, loadDevices, probeSpec, [2, 4].map(function share (divisor) {
    return Math.max(1, Math.round(load.ackedPerSec / divisor))
  }), settings, tmp)
  if (alarm === undefined || alarmQuarter === undefined) throw new Error('alarm phase: a round is missing')
  const outage = await runOutagePhase(mqttUrl, gateway.pid, httpUrl, influx, loadDevices, Math.max(1, Math.round(load.ackedPerSec / 2)), settings, tmp)
  const metrics = {
    readingsAccepted: metricValue(text, 'citygw_readings_total', 'outcome="accepted"') ?? 0,
    readingsRejected: metricValue(text, 'citygw_readings_total', 'outcome="rejected"') ?? 0,
    influxLinesWritten: metricValue(text, 'citygw_influx_lines_written_total') ?? 0,
    influxRetries: metricValue(text, 'citygw_influx_retries_total') ?? 0,
    influxQuarantined: metricValue(text, 'citygw_influx_quarantined_lines_total') ?? 0,
    spoolFullRefusals: metricValue(text, 'citygw_spool_full_refusals_total') ?? 0,
    aclDenials: metricValue(text, 'citygw_acl_denials_total', 'action="publish"') ?? 0,
  }

  await gateway.stop(15_000)
  const exitCode = await gateway.exited
  const problems = gateway.lines().slice(0, linesOfThroughputRun).filter(function isProblem (l) { return typeof l.level === 'number' && l.level >= 40 })
  const laterProblems = gateway.lines().slice(linesOfThroughputRun).filter(function isProblem (l) { return typeof l.level === 'number' && l.level >= 40 })
  outage.gatewayLogWarnings = laterProblems.filter(function isWarn (l) { return l.level === 40 }).length
  outage.gatewayLogErrors = laterProblems.filter(function isError (l) { return (l.level as number) >= 50 }).length
  outage.gatewayLogProblems = laterProblems.slice(0, 10)
  const run: GatewayRun = {
    load,
    spoolAtLoadEnd,
    spoolMax,
    drainMs,
    stored,
    metrics,
    warnings: problems.filter(function isWarn (l) { return l.level === 40 }).length,
    errors: problems.filter(function isError (l) { return (l.level as number) >= 50 }).length,
    firstProblems: problems.slice(0, 3).map(function describe (l) {
      const err = l.err as { message?: string } | undefined
      return `${String(l.msg)}${typeof err?.message === 'string' ? `: ${err.message}` : ''}`
    }),
    problemLines: problems.slice(0, 10),
    exitCode,
    alarm,
    alarmQuarter,
    outage,
    influxUrl: influx.url,
  }
  if (settings.isProfiling) {
    const file = await largestFile(profileDir, '.cpuprofile')
    if (file === undefined) {
      say('  no .cpuprofile was written (did the gateway exit cleanly?)')
    } else {
      const kept = join(RESULTS_DIR, 'gateway.cpuprofile')
      await mkdir(RESULTS_DIR, { recursive: true })
      await copyFile(file, kept)
      run.profile = { file: kept, summary: await summariseCpuProfile(file, REPO_ROOT, load.span) }
    }
  }
  return run
}

// ── connections ──────────────────────────────────────────────────────────────

const CONNECTION_LEVELS = [10_000, 20_000] as const
const CONNECT_PROBES = 2
/**
 * How long to wait, after a level is held, for the gateway to settle. Right after thousands of
 * connects its RSS still holds what connecting allocated (Aedes' per-connect stream pipelines,
 * the CONNECT packets: about 48 KB per connect in all, measured with the sampling heap profiler),
 * until V8's memory reducer runs on the now idle process (about 30–40 s later here).
 */
const SETTLE_MAX_SEC = 45
/** RSS this far below its post-connect value means the memory reducer ran. */
const SETTLED_DROP = 0.15

interface ConnectionLevel {
  requested: number
  /** Requested, or fewer when the gateway's open-file limit cannot hold that many sockets. */
  attempted: number
  held: number
  connectMs: number
  connectPerSec: number
  /** 2 s after the last CONNACK: the peak of a reconnect storm. */
  rssMb: number
  bytesPerConnection: number
  /**
   * Once the idle gateway settled (null: it did not within SETTLE_MAX_SEC): what holding them
   * costs. Only waited for when the figure above is over the target (settledAfterSec 0: the same).
   */
  settledRssMb: number | null
  settledBytesPerConnection: number | null
  settledAfterSec: number | null
  newErrors: number
}

/**
 * Polls RSS (from /proc: nothing that would allocate in the gateway) until it dropped by
 * SETTLED_DROP and then stopped falling (the reducer collects in steps over a few seconds).
 */
async function settledRss (pid: number, afterConnectMb: number): Promise<{ rssMb: number; afterSec: number } | null> {
  const start = performance.now()
  let previous = afterConnectMb
  let hasDropped = false
  while (performance.now() - start < SETTLE_MAX_SEC * 1000) {
    await sleep(1000)
    const now = rssMb(pid)
    hasDropped ||= now < afterConnectMb * (1 - SETTLED_DROP)
    if (hasDropped && now > previous * 0.99) return { rssMb: now, afterSec: Math.round((performance.now() - start) / 1000) }
    previous = now
  }
  return null
}

interface ConnectionsRun {
  idleRssMb: number
  fdLimit: number | null
  fdsInUseIdle: number | null
  levels: ConnectionLevel[]
  errors: Record<string, number>
  gatewayWarnings: number
  gatewayErrors: number
}

async function runConnectionsBench (tmp: string, influxUrl: string): Promise<ConnectionsRun> {
  const most = CONNECTION_LEVELS[CONNECTION_LEVELS.length - 1] ?? 0
  say(`connections: a fresh gateway, ${most} devices registered, connect only…`)
  const dataDir = join(tmp, 'gateway-connections')
  const devices = Array.from({ length: most }, function makeConnDevice (_, i) {
    return { id: `conn-${String(i).padStart(5, '0')}`, kind: 'lamp-post' as const, district: `district-${i % 8}` }
  })
  const credentials = await importDevices(registryPath(dataDir), devices.map(function toJsonLine (d) { return JSON.stringify(d) }).join('\n'))
  const stops: (() => Promise<void>)[] = []
  try {
    const gateway = startGateway('gateway (connections)', gatewayEnv(dataDir, influxUrl))
    stops.push(function stopGateway () { return gateway.stop(15_000) })
    const started = await gateway.waitForLine<{ ports: { mqtt: number } }>(function isStarted (l) { return l.msg === 'gateway started' }, 30_000)
    const probes: BenchProcess[] = []
    for (let p = 0; p < CONNECT_PROBES; p++) {
      const spec: ConnectProbeSpec = {
        port: started.ports.mqtt,
        devices: credentials.filter(function ofProbe (_, i) { return i % CONNECT_PROBES === p }),
        concurrency: 50,
        keepaliveSec: 600,
        connackTimeoutMs: 20_000,
        maxSec: 240,
      }
      const specFile = join(tmp, `connect-probe-${p}.json`)
      await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 })
      const probe = startProcess(`connect probe ${p}`, ['--import', 'tsx', join(REPO_ROOT, 'test/bench/connect-probe.ts'), specFile], { cwd: REPO_ROOT, env: process.env })
      stops.push(function stopProbe () { return probe.stop(3000) })
      probes.push(probe)
    }
    for (const probe of probes) await probe.waitForLine(function isReady (l) { return l.type === 'ready' }, 20_000)
    await sleep(2000)
    const idleRssMb = rssMb(gateway.pid)
    const fds = await fdFigures(gateway.pid)
    // Each held connection is one fd in the gateway: stay below its limit rather than hit EMFILE.
    const capacity = fds.limit === null || fds.inUse === null ? Number.POSITIVE_INFINITY : fds.limit - fds.inUse - 64
    const levels: ConnectionLevel[] = []
    let heldBefore = 0
    for (const requested of CONNECTION_LEVELS) {
      const perProbe = Math.floor(Math.min(requested, capacity) / CONNECT_PROBES)
      const attempted = perProbe * CONNECT_PROBES
      for (const probe of probes) probe.child.stdin?.write(`connect ${perProbe}\n`)
      const answers = await Promise.all(probes.map(function waitHeld (probe) {
        return probe.waitForLine<{ held: number; ms: number; newErrors: number }>(function isHeld (l) { return l.type === 'held' && l.target === perProbe }, 180_000)
      }))
      const held = answers.reduce(function sum (n, a) { return n + a.held }, 0)
      const connectMs = Math.max(...answers.map(function msOf (a) { return a.ms }))
      await sleep(2000) // the work after the last CONNACK
      const rss = rssMb(gateway.pid)
      const perConnection = function perConnection (mb: number): number { return held === 0 ? 0 : Math.round(((mb - idleRssMb) * 1048576) / held) }
      // Settling can only lower the figure: waited for only when it matters for the target.
      const isWaiting = perConnection(rss) > TARGETS.bytesPerConnection
      say(`  ${held} held (of ${attempted}${attempted < requested ? `, capped from ${requested} by the open-file limit ${String(fds.limit)}` : ''}) in ${connectMs} ms; RSS ${rss} MB (idle ${idleRssMb} MB)${isWaiting ? '; waiting for it to settle…' : ''}`)
      const settled = isWaiting ? await settledRss(gateway.pid, rss) : { rssMb: rss, afterSec: 0 }
      levels.push({
        requested,
        attempted,
        held,
        connectMs,
        connectPerSec: Math.round((held - heldBefore) / Math.max(0.001, connectMs / 1000)),
        rssMb: rss,
        bytesPerConnection: perConnection(rss),
        settledRssMb: settled?.rssMb ?? null,
        settledBytesPerConnection: settled === null ? null : perConnection(settled.rssMb),
        settledAfterSec: settled?.afterSec ?? null,
        newErrors: answers.reduce(function sum (n, a) { return n + a.newErrors }, 0),
      })
      if (isWaiting) say(`  ${settled === null ? `not settled within ${SETTLE_MAX_SEC} s` : `settled after ${settled.afterSec} s: RSS ${settled.rssMb} MB`}`)
      heldBefore = held
    }
    const errors: Record<string, number> = {}
    for (const probe of probes) {
      const last = [...probe.lines()].reverse().find(function isHeld (l) { return l.type === 'held' }) as { errors?: Record<string, number> } | undefined
      for (const [reason, n] of Object.entries(last?.errors ?? {})) errors[reason] = (errors[reason] ?? 0) + n
    }
    for (const probe of probes) probe.child.stdin?.write('stop\n')
    const problems = gateway.lines().filter(function isProblem (l) { return typeof l.level === 'number' && l.level >= 40 })
    return {
      idleRssMb,
      fdLimit: fds.limit,
      fdsInUseIdle: fds.inUse,
      levels,
      errors,
      gatewayWarnings: problems.filter(function isWarn (l) { return l.level === 40 }).length,
      gatewayErrors: problems.filter(function isError (l) { return (l.level as number) >= 50 }).length,
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(function reportStop (err: unknown) { say(`connections cleanup failed: ${String(err)}`) })
  }
}

// ── report ───────────────────────────────────────────────────────────────────

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

/**
 * What one message costs each process (µs of one core), closed loop (the throughput runs, a window
 * of publishes shares each socket read and PUBACK write) and open loop at the alarm phase's rate
 * (one read and one write per message, as devices in the field send).
 */
function cpuPerMessage (baseline: LoadRun, bareOpenLoop: LoadRun, gw: GatewayRun) {
  const alarmLoad = gw.alarm.load
  return {
    closedLoop: {
      bareAedes: cpuMicrosPerMessage(baseline.brokerCpuPercent, baseline.ackedPerSec),
      generatorWithBareAedes: cpuMicrosPerMessage(baseline.generatorCpuPercent, baseline.ackedPerSec),
      gateway: cpuMicrosPerMessage(gw.load.brokerCpuPercent, gw.load.ackedPerSec),
      generatorWithGateway: cpuMicrosPerMessage(gw.load.generatorCpuPercent, gw.load.ackedPerSec),
      influxdb: cpuMicrosPerMessage(gw.load.databaseCpuPercent, gw.load.ackedPerSec),
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

function printTable (settings: Settings, baseline: LoadRun, perMessage: ReturnType<typeof cpuPerMessage>, gw: GatewayRun, ratio: number, peer: PeerRun, peerRatio: number, connections: ConnectionsRun): void {
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
  say('')
  say(`city-sensor-gateway bench — ${settings.devices} devices × ${settings.window} in flight, QoS 1, ${settings.durationSec} s measured after ${settings.warmupSec} s warm-up`)
  say(`${process.version} · ${cpu} · ${os.cpus().length} cores${settings.isProfiling ? ' · gateway under --cpu-prof (slower)' : ''}`)
  say('')
  say(`${''.padEnd(30)}${'bare Aedes'.padStart(16)}${'gateway'.padStart(16)}`)
  for (const [label, a, b] of rows) say(`${label.padEnd(30)}${a.padStart(16)}${b.padStart(16)}`)
  say('')
  say(`ratio gateway / bare Aedes     ${ratio.toFixed(2)}   (target ≥ ${TARGET_RATIO})`)
  say(`stored in InfluxDB             ${gw.stored.total}   acked ${gw.load.acked}   ${lossless ? 'equal' : 'DIFFERENT'}   (${Object.entries(gw.stored.byMeasurement).map(function show ([m, n]) { return `${m} ${n}` }).join(', ')}; rejected ${gw.stored.rejected})`)
  say(`spool depth at load end        ${gw.spoolAtLoadEnd.records} records, ${gw.spoolAtLoadEnd.bytes} bytes (max seen ${gw.spoolMax.records} records)`)
  say(`spool drained                  ${gw.drainMs === null ? `not within ${DRAIN_TIMEOUT_MS} ms` : `${gw.drainMs} ms after load end`}`)
  say(`gateway log                    ${gw.warnings} warnings, ${gw.errors} errors${gw.firstProblems.length > 0 ? ` (${gw.firstProblems.join('; ')})` : ''}; exit code ${String(gw.exitCode)}`)
  const a = gw.alarm
  say('')
  say(`${'figure'.padEnd(48)}${'measured'.padStart(22)}   target`)
  say(`${'peer (Mosquitto + bridge) stored/s'.padEnd(48)}${String(peer.storedPerSec).padStart(22)}   (acked ${peer.load.ackedPerSec}/s; stored ${peer.stored} of ${peer.load.acked} acked)`)
  say(`${'gateway acked=stored/s ÷ peer stored/s'.padEnd(48)}${peerRatio.toFixed(2).padStart(22)}   ≥ ${TARGETS.gatewayToPeer}`)
  say(`${`alarm latency p50/p99/max ms @${a.load.ackedPerSec}/s`.padEnd(48)}${`${a.probe.all.p50} / ${a.probe.all.p99} / ${a.probe.all.max}`.padStart(22)}   p99 < ${TARGETS.alarmP99Ms} ms`)
  say(`${'  same, no other load: p50/p99/max ms'.padEnd(48)}${`${a.idle.all.p50} / ${a.idle.all.p99} / ${a.idle.all.max}`.padStart(22)}   (${a.idle.all.count} alarms, ${a.idle.missing} missing; load's own PUBACK p50/p99 ${a.load.latencyMs.p50} / ${a.load.latencyMs.p99} ms)`)
  say(`${'  alarms received / missing'.padEnd(48)}${`${a.probe.all.count} / ${a.probe.missing}`.padStart(22)}   (raise p99 ${a.probe.raised.p99}, clear p99 ${a.probe.cleared.p99} ms)`)
  const q = gw.alarmQuarter
  say(`${`  same at a quarter of the rate (@${q.load.ackedPerSec}/s)`.padEnd(48)}${`${q.probe.all.p50} / ${q.probe.all.p99} / ${q.probe.all.max}`.padStart(22)}   (${q.probe.all.count} alarms, ${q.probe.missing} missing; load's own PUBACK p50/p99 ${q.load.latencyMs.p50} / ${q.load.latencyMs.p99} ms)`)
  say(`${'  CPU per message, µs of a core: closed loop'.padEnd(48)}${`${String(perMessage.closedLoop.bareAedes)} / ${String(perMessage.closedLoop.gateway)}`.padStart(22)}   bare Aedes / gateway at their throughput; load generator ${String(perMessage.closedLoop.generatorWithBareAedes)} per bare Aedes message, ${String(perMessage.closedLoop.generatorWithGateway)} per gateway message; InfluxDB ${String(perMessage.closedLoop.influxdb)} per gateway message`)
  say(`${`  same, open loop @${a.load.ackedPerSec}/s`.padEnd(48)}${`${String(perMessage.openLoop.bareAedes)} / ${String(perMessage.openLoop.gateway)}`.padStart(22)}   bare Aedes ${String(perMessage.openLoop.bareAedesCpuPercent)} % CPU, gateway ${String(a.load.brokerCpuPercent)} %, load generator ${String(a.load.generatorCpuPercent)} %, InfluxDB ${String(a.load.databaseCpuPercent)} %, machine ${String(a.load.machineCpuPercent)} % (bare Aedes' PUBACK p99 ${perMessage.openLoop.bareAedesLatencyMs.p99} ms)`)
  const o = gw.outage
  const ingest = o.load.ackedPerSec
  say(`${`outage ${o.outageSec} s @${ingest}/s: RSS before → max during MB`.padEnd(48)}${`${o.rssBeforeMb} → ${o.rssDuringMaxMb} (+${Math.round((o.rssDuringMaxMb - o.rssBeforeMb) * 10) / 10})`.padStart(22)}   ≤ +${TARGETS.outageMemoryMb} MB`)
  say(`${'  catch-up after InfluxDB returns'.padEnd(48)}${(o.catchUpMs === null ? 'not within budget' : `${o.catchUpMs} ms`).padStart(22)}   (spool peak ${o.spoolPeakRecords} records, ${Math.round(o.spoolPeakBytes / 1048576)} MB; RSS max while catching up ${o.rssCatchUpMaxMb} MB; log ${String(o.gatewayLogWarnings)} warnings, ${String(o.gatewayLogErrors)} errors)`)
  say(`${'  catch-up lines/s ÷ ingest msgs/s'.padEnd(48)}${`${o.catchUpLinesPerSec} / ${ingest} = ${(o.catchUpLinesPerSec / Math.max(1, ingest)).toFixed(2)}`.padStart(22)}   ≥ ${TARGETS.catchUpToIngest}`)
  for (const level of connections.levels) {
    const label = `connections ${level.requested}${level.attempted < level.requested ? ` (capped ${level.attempted})` : ''}: held, /s, B/conn`
    const settled = level.settledBytesPerConnection === null ? `not settled in ${SETTLE_MAX_SEC} s` : String(level.settledBytesPerConnection)
    const when = level.settledAfterSec === 0 ? '2 s after the last connect, under the target without settling' : `${level.bytesPerConnection} B/conn 2 s after the last connect`
    say(`${label.padEnd(48)}${`${level.held} · ${level.connectPerSec}/s · ${settled}`.padStart(22)}   ≤ ${TARGETS.bytesPerConnection} B/conn settled, all held (${when})`)
  }
  say(`${'  connections: idle RSS, fd limit, errors'.padEnd(48)}${`${connections.idleRssMb} MB · ${String(connections.fdLimit)}`.padStart(22)}   ${JSON.stringify(connections.errors)}; gateway log ${connections.gatewayWarnings} warnings, ${connections.gatewayErrors} errors`)
  if (gw.profile !== undefined) {
    say('')
    const { summary } = gw.profile
    say(`gateway CPU profile (${gw.profile.file}), ${summary.isWindowed ? 'measured window only' : 'whole run'}: ${summary.totalMs - summary.idleMs} ms busy of ${summary.totalMs} ms; self time, % of busy:`)
    for (const f of summary.topFunctions.slice(0, 15)) say(`  ${f.percent.toFixed(1).padStart(5)}%  ${f.name}`)
    say('  by area:')
    for (const a of summary.topAreas.slice(0, 10)) say(`  ${a.percent.toFixed(1).padStart(5)}%  ${a.name}`)
  }
  say('')
}

// ── main ─────────────────────────────────────────────────────────────────────

async function main (): Promise<void> {
  const settings = readSettings()
  const startedAt = new Date()
  const tmp = await mkdtemp(join(os.tmpdir(), 'citygw-bench-'))
  const cleanups: (() => Promise<void>)[] = []
  async function cleanUp (): Promise<void> {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch(function reportCleanup (err: unknown) { say(`cleanup failed: ${String(err)}`) })
    }
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
    const gw = await runGatewayBench(settings, devices, tmp, cleanups)
    // The alarm phase's open-loop rate on the broker alone: what one message costs without the
    // window's batching (a read and a PUBACK write per message), for the table's CPU rows.
    const bareOpenLoop = await runBaseline(settings, withoutCredentials, tmp, { ratePerSec: gw.alarm.ratePerSec, durationSec: BARE_OPEN_LOOP_SEC })
    const connections = await runConnectionsBench(tmp, gw.influxUrl)
    const peerRatio = peer.storedPerSec === 0 ? 0 : gw.load.ackedPerSec / peer.storedPerSec
    const ratio = baseline.ackedPerSec === 0 ? 0 : gw.load.ackedPerSec / baseline.ackedPerSec
    const perMessage = cpuPerMessage(baseline, bareOpenLoop, gw)
    printTable(settings, baseline, perMessage, gw, ratio, peer, peerRatio, connections)
    const wallSec = Math.round((Date.now() - startedAt.getTime()) / 1000)
    say(`whole run: ${wallSec} s`)

    const cpus = os.cpus()
    const results = {
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
        logWarnings: gw.warnings,
        logErrors: gw.errors,
        logProblems: gw.problemLines,
        exitCode: gw.exitCode,
        isProfiled: settings.isProfiling,
      },
      ratio: Math.round(ratio * 1000) / 1000,
      peer: {
        ...loadFigures(peer.load),
        storedPerSec: peer.storedPerSec,
        storedInWindow: peer.storedInWindow,
        stored: peer.stored,
        lostAfterPuback: Math.max(0, peer.load.acked - peer.stored),
        bridge: peer.bridge,
        flushMs: peer.flushMs,
      },
      ratioGatewayToPeer: Math.round(peerRatio * 1000) / 1000,
      cpuMicrosPerMessage: perMessage,
      outage: {
        outageSec: gw.outage.outageSec,
        targetRatePerSec: gw.outage.ratePerSec,
        ingestPerSec: gw.outage.load.ackedPerSec,
        loadLatencyMs: gw.outage.load.latencyMs,
        loadFailed: gw.outage.load.failed,
        loadUnacked: gw.outage.load.unacked,
        rssBeforeMb: gw.outage.rssBeforeMb,
        rssBeforeMaxMb: gw.outage.rssBeforeMaxMb,
        rssDuringMaxMb: gw.outage.rssDuringMaxMb,
        rssGrowthMb: Math.round((gw.outage.rssDuringMaxMb - gw.outage.rssBeforeMb) * 10) / 10,
        rssCatchUpMaxMb: gw.outage.rssCatchUpMaxMb,
        targetRssGrowthMb: TARGETS.outageMemoryMb,
        spoolPeakRecords: gw.outage.spoolPeakRecords,
        spoolPeakBytes: gw.outage.spoolPeakBytes,
        influxRestartMs: gw.outage.influxRestartMs,
        gatewayLogWarnings: gw.outage.gatewayLogWarnings,
        gatewayLogErrors: gw.outage.gatewayLogErrors,
        gatewayLogProblems: gw.outage.gatewayLogProblems,
        catchUpMs: gw.outage.catchUpMs,
        catchUpLinesPerSec: gw.outage.catchUpLinesPerSec,
        catchUpToIngest: Math.round((gw.outage.catchUpLinesPerSec / Math.max(1, gw.outage.load.ackedPerSec)) * 100) / 100,
        targetCatchUpToIngest: TARGETS.catchUpToIngest,
      },
      connections: { ...connections, targetBytesPerConnection: TARGETS.bytesPerConnection, levelsRequested: CONNECTION_LEVELS },
      alarmLatency: {
        targetP99Ms: TARGETS.alarmP99Ms,
        targetRatePerSec: gw.alarm.ratePerSec,
        loadAckedPerSec: gw.alarm.load.ackedPerSec,
        loadLatencyMs: gw.alarm.load.latencyMs,
        probeDevices: ALARM_DEVICES,
        allMs: gw.alarm.probe.all,
        raisedMs: gw.alarm.probe.raised,
        clearedMs: gw.alarm.probe.cleared,
        missing: gw.alarm.probe.missing,
        noLoadMs: gw.alarm.idle.all,
        noLoadMissing: gw.alarm.idle.missing,
        publishErrors: gw.alarm.probe.publishErrors,
        durationSec: gw.alarm.probe.durationSec,
        atQuarterRate: {
          targetRatePerSec: gw.alarmQuarter.ratePerSec,
          loadAckedPerSec: gw.alarmQuarter.load.ackedPerSec,
          loadLatencyMs: gw.alarmQuarter.load.latencyMs,
          allMs: gw.alarmQuarter.probe.all,
          missing: gw.alarmQuarter.probe.missing,
        },
      },
      ...(gw.profile === undefined ? {} : { profile: { file: gw.profile.file, ...gw.profile.summary } }),
    }
    await mkdir(RESULTS_DIR, { recursive: true })
    await writeFile(join(RESULTS_DIR, 'results.json'), `${JSON.stringify(results, null, 2)}\n`)
    process.stdout.write(`${JSON.stringify(results)}\n`)
    // Not a timing assertion: an acknowledged reading missing after a full drain is lost data.
    if (gw.drainMs !== null && gw.stored.total < gw.load.acked) {
      say(`LOST DATA: ${gw.load.acked - gw.stored.total} acknowledged readings are not in InfluxDB`)
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
