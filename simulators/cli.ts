// `citygw simulate` (options declared in cli/simulate.ts): checks the options, gets the fleet's
// credentials (--provision registers a new fleet under DATA_DIR; --fleet reads a fleet file), runs
// the district simulation or the load mode, shows a status line on a terminal and a summary
// (--json: one JSON object on stdout). Simulated time never passes the real clock (see README).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { IClientOptions } from 'mqtt'
import { loadConfig } from '../broker/config.ts'
import { withRegistryStore } from '../broker/cluster/configured-registry-store.ts'
import { kindNames, type KindName } from '../devices/index.ts'
import { formatAlarm } from './alarm-watcher.ts'
import { planFleet, provisionFleet, readFleetFile, recordSimulatedUntil, type FleetFile } from './fleet.ts'
import { runLoad } from './load/run-load.ts'
import { createStatusLine, describeLoad, describeStatus, describeSummary } from './report.ts'
import { parseScenarioSpec, planInjections } from './scenarios/index.ts'
import { runSimulation } from './simulate.ts'
import { parseDurationMs } from './time.ts'

export interface SimulateCliOptions {
  url: string
  lampPosts?: number
  waterPipes?: number
  manholes?: number
  district: string
  lat: number
  lon: number
  interval: string
  duration?: string
  speed: number
  start?: string
  scenario: string[]
  seed: number
  provision?: boolean
  fleet?: string
  crew?: string
  ca?: string
  insecure?: boolean
  json?: boolean
  alarms?: boolean
  load?: boolean
  devices?: number
  rate?: number
  qos: string
  window?: number
  warmup: string
}

const DAY_MS = 86_400_000
/** The gateway refuses readings stamped more than 5 minutes ahead; we stay a minute behind the clock. */
const CLOCK_MARGIN_MS = 60_000
/** …and older than BACKFILL_DAYS (30 by default). */
const BACKFILL_LIMIT_MS = 29.5 * DAY_MS

function say (text: string): void {
  process.stdout.write(`${text}\n`)
}

function fail (message: string): never {
  throw new Error(message)
}

function fleetFilePath (opts: SimulateCliOptions): string {
  return opts.fleet ?? join(loadConfig().DATA_DIR, `fleet-${opts.district}${opts.load === true ? '-load' : ''}.json`)
}

async function obtainFleet (opts: SimulateCliOptions, devices: ReturnType<typeof planFleet>): Promise<FleetFile> {
  if (opts.provision === true) {
    const config = loadConfig()
    const file = fleetFilePath(opts)
    const fleet = await withRegistryStore(config, function provisionInto (store) {
      return provisionFleet(store, devices, file, opts.load === true ? undefined : `${opts.district}-crew`)
    }).catch(function explain (err: Error) { fail(`${err.message}${/already registered|EEXIST/.test(err.message) ? ` — reuse the earlier fleet with --fleet ${file}` : ''}`) })
    const where = config.NATS_URL.length > 0 ? 'in the cluster\'s registry' : `under ${config.DATA_DIR}`
    if (opts.json !== true) process.stderr.write(`Registered ${devices.length} devices${fleet.crew === undefined ? '' : ` and crew ${fleet.crew.name}`} ${where}; secrets in ${file} (mode 0600).\n`)
    // A running gateway polls the registry; connecting before it has seen the fleet would count as failed logins.
    await new Promise(function waitForRegistryPoll (resolve) { setTimeout(resolve, loadConfig().REGISTRY_POLL_MS + 500) })
    return fleet
  }
  if (opts.fleet === undefined) fail('give --provision (register a new fleet in the local registry) or --fleet <file> (credentials from an earlier --provision)')
  return readFleetFile(opts.fleet)
}

function crewFrom (opts: SimulateCliOptions, fleet: FleetFile): { name: string; secret: string } | undefined {
  if (opts.alarms === false) return undefined
  if (opts.crew !== undefined) {
    const secret = process.env.CITYGW_CREW_SECRET ?? fail('--crew needs the crew\'s secret in CITYGW_CREW_SECRET')
    return { name: opts.crew, secret }
  }
  return fleet.crew
}

async function mqttOptionsFrom (opts: SimulateCliOptions): Promise<IClientOptions> {
  if (!/^(mqtts?|wss?):\/\//.test(opts.url)) fail(`--url ${opts.url}: use mqtt://, mqtts://, ws:// or wss://`)
  return {
    ...(opts.ca === undefined ? {} : { ca: await readFile(opts.ca) }),
    ...(opts.insecure === true ? { rejectUnauthorized: false } : {}),
  }
}

export async function runSimulateCommand (opts: SimulateCliOptions): Promise<void> {
  const seed = opts.seed
  const mqttOptions = await mqttOptionsFrom(opts)
  const abort = new AbortController()
  process.once('SIGINT', function onSigint () { abort.abort() })
  process.once('SIGTERM', function onSigterm () { abort.abort() })
  if (opts.load === true) {
    await runLoadCommand(opts, mqttOptions, abort.signal)
    return
  }

  const durationMs = opts.duration === undefined ? undefined : parseDurationMs(opts.duration)
  const intervalMs = parseDurationMs(opts.interval)
  if (!(opts.speed >= 1)) fail('--speed must be at least 1')
  if (intervalMs < 100) fail('--interval must be at least 0.1 s')
  const counts = { 'lamp-post': opts.lampPosts, 'water-pipe': opts.waterPipes, manhole: opts.manholes }
  const isDefaultFleet = kindNames.every(function unset (k) { return counts[k] === undefined })
  const planned = planFleet(opts.district, isDefaultFleet ? { 'lamp-post': 3, 'water-pipe': 2, manhole: 2 } : counts, opts.lat, opts.lon, seed)
  const fleet = await obtainFleet(opts, planned)
  const devices = fleet.devices

  // Simulated time ends at "now" (a run of D real seconds at N× covers D × N before now), so no ts
  // is ever ahead of the gateway's clock; without --duration it starts a day back (speed > 1) and
  // runs at real speed once it has caught up.
  const now = Date.now() - CLOCK_MARGIN_MS
  const spanMs = durationMs === undefined ? Infinity : durationMs * opts.speed
  const startMs = opts.start !== undefined
    ? Date.parse(opts.start)
    : durationMs === undefined ? (opts.speed > 1 ? now - DAY_MS : now) : now - spanMs
  if (Number.isNaN(startMs)) fail(`--start ${opts.start ?? ''}: not an ISO-8601 time`)
  if (startMs < Date.now() - BACKFILL_LIMIT_MS) fail(`simulated time would start ${new Date(startMs).toISOString()}, older than the gateway's 30-day backfill window: lower --duration or --speed`)
  const injections = planInjections(opts.scenario.map(parseScenarioSpec), devices, startMs)
  if (fleet.simulatedUntil !== undefined && startMs < Date.parse(fleet.simulatedUntil) && opts.json !== true) {
    process.stderr.write(`Warning: this fleet's last run simulated up to ${fleet.simulatedUntil}; the gateway treats older readings as late ` +
      'and raises no alarms from them. Use --start after that time, a new fleet (--provision --district …), or wait.\n')
  }

  const statusLine = createStatusLine(process.stderr)
  const isQuiet = opts.json === true
  const summary = await runSimulation({
    url: opts.url,
    devices,
    crew: crewFrom(opts, fleet),
    seed,
    intervalMs,
    speed: opts.speed,
    startMs,
    spanMs,
    injections,
    mqttOptions,
    signal: abort.signal,
    onStatus: function showStatus (status) { if (!isQuiet) statusLine.show(describeStatus(status)) },
    onAlarm: function showAlarm (event) {
      if (isQuiet) return
      statusLine.clear()
      process.stderr.write(`${formatAlarm(event)}\n`)
    },
  })
  statusLine.clear()
  await recordSimulatedUntil(fleetFilePath(opts), fleet, Date.parse(summary.simEnd))
  if (opts.json === true) say(JSON.stringify(summary))
  else say(describeSummary(summary))
  if (summary.acknowledged === 0 && summary.sent + summary.unsent > 0) process.exitCode = 1
}

async function runLoadCommand (opts: SimulateCliOptions, mqttOptions: IClientOptions, signal: AbortSignal): Promise<void> {
  const count = opts.devices ?? 100
  const qos = opts.qos === '0' ? 0 : opts.qos === '1' ? 1 : fail('--qos must be 0 or 1')
  const kinds: KindName[] = [...kindNames]
  const planned = Array.from({ length: count }, function loadDevice (_, i) {
    return { id: `${opts.district}-load-${String(i + 1).padStart(5, '0')}`, kind: kinds[i % kinds.length] as KindName, district: opts.district, lat: opts.lat, lon: opts.lon }
  })
  const fleet = await obtainFleet(opts, planned)
  const statusLine = createStatusLine(process.stderr)
  const durationMs = parseDurationMs(opts.duration ?? '30')
  const result = await runLoad({
    url: opts.url,
    devices: fleet.devices,
    ratePerSec: opts.rate,
    qos,
    window: opts.window ?? (opts.rate === undefined ? 16 : 100),
    warmupMs: parseDurationMs(opts.warmup),
    durationMs,
    drainTimeoutMs: 15_000,
    connectConcurrency: 50,
    seed: opts.seed,
    mqttOptions,
    signal,
    onProgress: function showProgress (p) {
      if (opts.json !== true) statusLine.show(`load ${Math.round(p.elapsedMs / 1000)} s | connected ${p.connected}/${count} | published ${p.published} | acked ${p.acked}`)
    },
  })
  statusLine.clear()
  say(opts.json === true ? JSON.stringify(result) : describeLoad(result))
  if (result.acked === 0) process.exitCode = 1
}
