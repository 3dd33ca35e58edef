// `npm run bench`: end-to-end throughput of the gateway against a bare Aedes 1.2 baseline, in one
// run, each broker and the load generator in its own process, everything on 127.0.0.1 with free
// ports and temp dirs. Leaves: a table on stderr, one JSON object on stdout and in .bench/results.json.
// Figures only: nothing is asserted on timings; the exit code is 1 only if the gateway lost data.
import { execFileSync } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { CONFIG_KEYS } from '../../broker/config.ts'
import { importDevices } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import type { KindName } from '../../devices/index.ts'
import { startLocalInfluxDb, type LocalInfluxDb } from '../../simulators/local-influxdb.ts'
import { summariseCpuProfile, type ProfileSummary, type ProfileWindow } from './cpu-profile.ts'
import type { LoadResult, LoadSpec } from './load-generator.ts'
import { machineCpuTicks, processCpuMs, startProcess, type BenchProcess } from './processes.ts'

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
const RESULTS_DIR = join(REPO_ROOT, '.bench')
/** The later issue's target for gateway / bare Aedes throughput. */
const TARGET_RATIO = 0.6
const KINDS: readonly KindName[] = ['lamp-post', 'water-pipe', 'manhole']
/** The required field of each kind's measurement: counting it counts the points. */
const COUNTED: readonly { measurement: string; field: string }[] = [
  { measurement: 'lamp_post', field: 'commandedLevel' },
  { measurement: 'water_pipe', field: 'pressure' },
  { measurement: 'manhole', field: 'coverAngle' },
]
const DRAIN_TIMEOUT_MS = 60_000

interface Settings {
  devices: number
  window: number
  warmupSec: number
  durationSec: number
  isProfiling: boolean
}

function intFromEnv (name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer in ${min}…${max}, not ${text}`)
  return value
}

function readSettings (): Settings {
  return {
    devices: intFromEnv('BENCH_DEVICES', 200, 1, 5000),
    window: intFromEnv('BENCH_WINDOW', 16, 1, 1000),
    warmupSec: intFromEnv('BENCH_WARMUP_SEC', 2, 0, 60),
    durationSec: intFromEnv('BENCH_DURATION_SEC', 20, 1, 300),
    isProfiling: process.env.BENCH_PROFILE === '1',
  }
}

function say (text: string): void {
  process.stderr.write(`${text}\n`)
}

interface CpuWindow {
  brokerCpuPercent: number | null
  machineCpuPercent: number | null
}

function cpuSnapshot (pid: number): { brokerMs: number | undefined; machine: ReturnType<typeof machineCpuTicks>; at: number; monotonicUs: number } {
  return { brokerMs: processCpuMs(pid), machine: machineCpuTicks(), at: performance.now(), monotonicUs: Number(process.hrtime.bigint() / 1000n) }
}

function cpuBetween (start: ReturnType<typeof cpuSnapshot>, end: ReturnType<typeof cpuSnapshot>): CpuWindow {
  const wallMs = end.at - start.at
  const broker = start.brokerMs === undefined || end.brokerMs === undefined ? null : Math.round(((end.brokerMs - start.brokerMs) / wallMs) * 100)
  const machine = start.machine === undefined || end.machine === undefined
    ? null
    : Math.round(((end.machine.busy - start.machine.busy) / Math.max(1, end.machine.total - start.machine.total)) * 100)
  return { brokerCpuPercent: broker, machineCpuPercent: machine }
}

type LoadRun = LoadResult & CpuWindow & { loadEndAtMs: number; span: ProfileWindow }

/**
 * Runs the load generator against `url` and waits for its result. `onLoadEnd` runs the moment it
 * stops publishing (the spool depth is read there).
 */
async function runLoad (
  name: string, url: string, brokerPid: number, devices: LoadSpec['devices'], settings: Settings, tmp: string,
  onLoadEnd?: () => Promise<void>,
): Promise<LoadRun> {
  const spec: LoadSpec = {
    url,
    devices,
    warmupSec: settings.warmupSec,
    durationSec: settings.durationSec,
    window: settings.window,
    connectConcurrency: 20,
    drainTimeoutSec: 15,
    seed: 7,
  }
  const specFile = join(tmp, `load-${name}.json`)
  await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 })
  const generator = startProcess(`load generator (${name})`, ['--import', 'tsx', join(REPO_ROOT, 'test/bench/load-generator.ts'), specFile], { cwd: REPO_ROOT, env: process.env })
  try {
    const connectTimeoutMs = 30_000 + settings.devices * 100
    const connected = await generator.waitForLine<{ connected: number; connectMs: number }>(function isConnected (l) { return l.type === 'connected' }, connectTimeoutMs)
    say(`  ${connected.connected} connections in ${connected.connectMs} ms; warm-up ${settings.warmupSec} s, then ${settings.durationSec} s measured`)
    await generator.waitForLine(function isWindowStart (l) { return l.type === 'windowStart' }, (settings.warmupSec + 30) * 1000)
    const start = cpuSnapshot(brokerPid)
    await generator.waitForLine(function isLoadEnd (l) { return l.type === 'loadEnd' }, (settings.durationSec + 30) * 1000)
    const end = cpuSnapshot(brokerPid)
    const loadEndAtMs = performance.now()
    await onLoadEnd?.()
    const result = await generator.waitForLine<LoadResult>(function isResult (l) { return l.type === 'result' }, (spec.drainTimeoutSec + 30) * 1000)
    return { ...result, ...cpuBetween(start, end), loadEndAtMs, span: { startUs: start.monotonicUs, endUs: end.monotonicUs } }
  } finally {
    await generator.stop(3000)
  }
}

function makeDevices (count: number): { id: string; kind: KindName; district: string }[] {
  return Array.from({ length: count }, function makeDevice (_, i) {
    return { id: `bench-${String(i).padStart(5, '0')}`, kind: KINDS[i % KINDS.length] as KindName, district: `district-${i % 8}` }
  })
}

// ── baseline ─────────────────────────────────────────────────────────────────

async function runBaseline (settings: Settings, devices: LoadSpec['devices'], tmp: string): Promise<LoadRun> {
  say('bare Aedes 1.2 (no auth, no validation, no storage)…')
  const broker = startProcess('bare aedes', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/bare-aedes.ts')], { cwd: REPO_ROOT, env: process.env })
  try {
    const { port } = await broker.waitForLine<{ port: number }>(function isStarted (l) { return l.msg === 'bare aedes started' }, 20_000)
    return await runLoad('bare-aedes', `mqtt://127.0.0.1:${port}`, broker.pid, devices, settings, tmp)
  } finally {
    await broker.stop(5000)
  }
}

// ── gateway ──────────────────────────────────────────────────────────────────

interface SpoolDepth { records: number; bytes: number }

/** One sample of a Prometheus text exposition: `name{labels} value` lines. */
function metricValue (text: string, name: string, labels = ''): number | undefined {
  const prefix = labels === '' ? `${name} ` : `${name}{${labels}} `
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix)) return Number(line.slice(prefix.length))
  }
  return undefined
}

async function scrape (httpUrl: string): Promise<string> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) })
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`)
  return res.text()
}

function spoolDepthOf (text: string): SpoolDepth {
  return { records: metricValue(text, 'citygw_spool_depth_records') ?? Number.NaN, bytes: metricValue(text, 'citygw_spool_depth_bytes') ?? Number.NaN }
}

async function countStored (influx: LocalInfluxDb): Promise<{ total: number; byMeasurement: Record<string, number>; rejected: number }> {
  const byMeasurement: Record<string, number> = {}
  let total = 0
  for (const { measurement, field } of COUNTED) {
    const n = await countPoints(influx, measurement, field)
    byMeasurement[measurement] = n
    total += n
  }
  return { total, byMeasurement, rejected: await countPoints(influx, 'rejected', 'payload') }
}

async function countPoints (influx: LocalInfluxDb, measurement: string, field: string): Promise<number> {
  const body = await influx.query(`SELECT count("${field}") FROM "${measurement}"`, 'city') as {
    results?: { series?: { values?: unknown[][] }[]; error?: string }[]
  }
  const result = body.results?.[0]
  if (result?.error !== undefined) throw new Error(`InfluxDB: ${result.error}`)
  const value = result?.series?.[0]?.values?.[0]?.[1]
  return typeof value === 'number' ? value : 0
}

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

async function runGatewayBench (
  settings: Settings, devices: ReturnType<typeof makeDevices>, tmp: string, cleanups: (() => Promise<void>)[],
): Promise<GatewayRun> {
  say('InfluxDB 1.x…')
  const influx = await startLocalInfluxDb(join(tmp, 'influxdb'), 'city')
  cleanups.push(function stopInflux () { return influx.stop() })

  const dataDir = join(tmp, 'gateway-data')
  const jsonLines = devices.map(function toJsonLine (d) { return JSON.stringify(d) }).join('\n')
  const credentials = await importDevices(registryPath(dataDir), jsonLines)
  const secretOf = new Map(credentials.map(function byId (c) { return [c.id, c.secret] as const }))
  const loadDevices = devices.map(function withSecret (d) {
    const secret = secretOf.get(d.id)
    if (secret === undefined) throw new Error(`no secret for ${d.id}`)
    return { id: d.id, kind: d.kind, secret }
  })

  const profileDir = join(tmp, 'cpu-profile')
  const nodeFlags = settings.isProfiling ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []
  say(`gateway (node bin/citygw.js start${settings.isProfiling ? ', with --cpu-prof' : ''}), ${devices.length} devices imported…`)
  const gateway: BenchProcess = startProcess('gateway', [...nodeFlags, join(REPO_ROOT, 'bin/citygw.js'), 'start'], { cwd: REPO_ROOT, env: gatewayEnv(dataDir, influx.url) })
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
    load = await runLoad('gateway', `mqtt://127.0.0.1:${started.ports.mqtt}`, gateway.pid, loadDevices, settings, tmp, async function readSpoolDepth () {
      spoolAtLoadEnd = spoolDepthOf(await scrape(httpUrl))
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
  const problems = gateway.lines().filter(function isProblem (l) { return typeof l.level === 'number' && l.level >= 40 })
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
    machineCpuPercent: run.machineCpuPercent,
    generatorCpuPercent: run.generatorCpuPercent,
    generatorLoopDelayP99Ms: run.generatorLoopDelayP99Ms,
  }
}

function printTable (settings: Settings, baseline: LoadRun, gw: GatewayRun, ratio: number): void {
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
    const devices = makeDevices(settings.devices)
    // The baseline needs no credentials; it gets the same ids, kinds and payloads.
    const baseline = await runBaseline(settings, devices.map(function noSecret (d) { return { id: d.id, kind: d.kind, secret: 'unused' } }), tmp)
    const gw = await runGatewayBench(settings, devices, tmp, cleanups)
    const ratio = baseline.ackedPerSec === 0 ? 0 : gw.load.ackedPerSec / baseline.ackedPerSec
    printTable(settings, baseline, gw, ratio)

    const cpus = os.cpus()
    const results = {
      benchmark: 'city-sensor-gateway end-to-end (npm run bench)',
      date: startedAt.toISOString(),
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpu: { model: cpus[0]?.model ?? null, cores: cpus.length },
      totalMemoryBytes: os.totalmem(),
      git: gitDescription(),
      settings: { ...settings, qos: 1, readingsPerMessage: 1, kinds: KINDS, influxApi: 'v1' },
      targets: { ratioGatewayToBareAedes: TARGET_RATIO },
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
