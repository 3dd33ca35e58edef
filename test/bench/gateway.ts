// The gateway under test, as `npm start` runs it (scripts/start.sh: the compiled build in dist/):
// its environment, its devices and crew imported through the registry before start, its private
// InfluxDB; stopping it yields the exit code, the warn/error lines of its log and, when profiled,
// the CPU profile of the throughput run.
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CONFIG_KEYS } from '../../broker/config.ts'
import { addCrew, importDevices } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { startLocalInfluxDb, type LocalInfluxDb } from '../../simulators/local-influxdb.ts'
import { summariseCpuProfile, type ProfileSummary, type ProfileWindow } from './cpu-profile.ts'
import type { BenchDevice, LoadDevices } from './load-run.ts'
import { startProcess, type BenchProcess, type Stop } from './processes.ts'
import { say } from './say.ts'
import { REPO_ROOT, RESULTS_DIR, type Settings } from './settings.ts'

/** Manholes registered beside the load's devices, in a district of their own, for the alarm probe. */
export const ALARM_DEVICES = 10
const ALARM_DISTRICT = 'bench-alarms'
const CREW_NAME = 'bench-crew'

export function gatewayEnv (dataDir: string, influxUrl: string): NodeJS.ProcessEnv {
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
    ALARM_RULES_FILE: join(REPO_ROOT, 'test/bench/rules.yaml'),
    LOG_LEVEL: 'info',
    // The load generator is one trusted address pushing every device as fast as it can: the
    // abuse limits (per-device rate, connections per IP) would drop acknowledged readings and
    // spoil the stored = acked check, so the bench lifts them.
    PUBLISH_RATE_PER_SEC: '1000000',
    PUBLISH_BURST: '1000000',
    MAX_CONNECTIONS_PER_IP: '100000',
    MAX_CONNECTIONS: '100000',
    ...settingsToTry(process.env.BENCH_GATEWAY_ENV),
  }
}

/** `BENCH_GATEWAY_ENV="SPOOL_GROUP_COMMIT_MS=8 INFLUX_FLUSH_MS=500"`: settings to compare against the defaults. */
function settingsToTry (list: string | undefined): Record<string, string> {
  const pairs = (list ?? '').split(/\s+/).filter(function isSet (item) { return item.includes('=') })
  return Object.fromEntries(pairs.map(function split (item) { return [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)] }))
}

/**
 * Open files the bench gives the gateway where it may raise the limit (root), as an operator sets
 * systemd's LimitNOFILE: 20,000 devices are 20,000 descriptors. Elsewhere the gateway keeps the
 * limit it inherits and caps its connections below it.
 */
const GATEWAY_OPEN_FILES = 65_536

/**
 * The gateway as `npm start` runs it (the compiled build, its node flags); `exec` keeps the pid
 * node's. `args` go to `citygw start` (e.g. `--workers 2`).
 */
export function startGateway (name: string, env: NodeJS.ProcessEnv, args: readonly string[] = []): BenchProcess {
  const raiseLimit = `ulimit -Hn ${GATEWAY_OPEN_FILES} 2>/dev/null && ulimit -Sn ${GATEWAY_OPEN_FILES}; exec bash "$0" "$@"`
  return startProcess(name, ['-c', raiseLimit, join(REPO_ROOT, 'scripts/start.sh'), ...args], { command: 'bash', cwd: REPO_ROOT, env })
}

export interface LogProblems {
  warnings: number
  errors: number
  /** The first 10 warn/error lines as logged. */
  first: Record<string, unknown>[]
}

/** The warn (pino level 40) and error (≥ 50) lines among `lines`. */
export function logProblems (lines: readonly Record<string, unknown>[]): LogProblems {
  const problems = lines.filter(function isProblem (l) { return typeof l.level === 'number' && l.level >= 40 })
  return {
    warnings: problems.filter(function isWarn (l) { return l.level === 40 }).length,
    errors: problems.filter(function isError (l) { return (l.level as number) >= 50 }).length,
    first: problems.slice(0, 10),
  }
}

export interface BenchGateway {
  process: BenchProcess
  influx: LocalInfluxDb
  mqttUrl: string
  httpUrl: string
  /** The load generator's devices, with the secrets the registry issued. */
  loadDevices: LoadDevices
  /** The alarm probe's crew and manholes, with their secrets. */
  crew: { name: string; secret: string }
  probeDevices: { id: string; secret: string }[]
  profileDir: string
}

/** Starts InfluxDB, imports `devices` (plus the alarm probe's) and a crew, starts the gateway; `cleanups` gets their stops. */
export async function startBenchGateway (settings: Settings, devices: readonly BenchDevice[], tmp: string, cleanups: Stop[]): Promise<BenchGateway> {
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
  const gateway = startGateway('gateway', { ...gatewayEnv(dataDir, influx.url), ...profileEnv })
  cleanups.push(function stopGateway () { return gateway.stop() })
  const started = await gateway.waitForLine<{ ports: { mqtt: number; http: number } }>(function isStarted (l) { return l.msg === 'gateway started' }, 30_000)
  return {
    process: gateway,
    influx,
    mqttUrl: `mqtt://127.0.0.1:${started.ports.mqtt}`,
    httpUrl: `http://127.0.0.1:${started.ports.http}`,
    loadDevices,
    crew: { name: crew.id, secret: crew.secret },
    probeDevices: probeDevices.map(function withProbeSecret (d) { return { id: d.id, secret: secretOf.get(d.id) ?? '' } }),
    profileDir,
  }
}

export interface GatewayExit {
  exitCode: number | null
  /** The log of the throughput run, and of what came after it (the outage warns on purpose). */
  throughputLog: LogProblems
  laterLog: LogProblems
  profile?: { file: string; summary: ProfileSummary }
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

/**
 * Stops the gateway; its log splits at `throughputLogLines` (the lines it had logged when the
 * throughput run ended). When profiled, keeps the profile in .bench/ and summarises `span` of it.
 */
export async function stopBenchGateway (gw: BenchGateway, throughputLogLines: number, span: ProfileWindow, settings: Settings): Promise<GatewayExit> {
  await gw.process.stop(15_000)
  const exitCode = await gw.process.exited
  const lines = gw.process.lines()
  const exit: GatewayExit = {
    exitCode,
    throughputLog: logProblems(lines.slice(0, throughputLogLines)),
    laterLog: logProblems(lines.slice(throughputLogLines)),
  }
  if (settings.isProfiling) {
    const file = await largestFile(gw.profileDir, '.cpuprofile')
    if (file === undefined) {
      say('  no .cpuprofile was written (did the gateway exit cleanly?)')
    } else {
      const kept = join(RESULTS_DIR, 'gateway.cpuprofile')
      await mkdir(RESULTS_DIR, { recursive: true })
      await copyFile(file, kept)
      exit.profile = { file: kept, summary: await summariseCpuProfile(file, REPO_ROOT, span) }
    }
  }
  return exit
}
