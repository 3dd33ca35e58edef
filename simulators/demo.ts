// `npm run demo`: the gateway on embedded defaults with a small simulated district whose devices
// report every simulated minute at 60× (one reading per device per real second), with a few
// faults injected, and every alarm printed in one line as the demo crew receives it (raised,
// cleared). Starts a private InfluxDB when Debian's influxd is installed, else says the data stays
// in the spool. Usage: npm run demo [-- --duration <seconds>] [--seed <n>] [--cluster]
// (--cluster: simulators/demo-cluster.ts)
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../broker/config.ts'
import { createLogger } from '../broker/log.ts'
import { startGateway, type Gateway } from '../broker/main.ts'
import { registryPath } from '../broker/registry/store.ts'
import { formatAlarm } from './alarm-watcher.ts'
import { clock, describeStorage, DISTRICT, FLEET_ORIGIN, FLEET_SIZE, INTERVAL_MS, SCENARIOS, say, sayConsole, SPEED, writeDemoRules } from './demo-district.ts'
import { planFleet, provisionFleet } from './fleet.ts'
import { startLocalInfluxDb, type LocalInfluxDb } from './local-influxdb.ts'
import { parseScenarioSpec, planInjections } from './scenarios/index.ts'
import { runSimulation } from './simulate.ts'

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string' }, seed: { type: 'string' }, cluster: { type: 'boolean' } } })
  const durationSec = values.duration === undefined ? undefined : Number(values.duration)
  if (durationSec !== undefined && !(durationSec > 0)) throw new Error('--duration must be a positive number of seconds')
  const seed = values.seed === undefined ? 42 : Number(values.seed)
  const dataDir = process.env.DATA_DIR ?? await mkdtemp(join(tmpdir(), 'citygw-demo-'))
  if (values.cluster === true) {
    const { runClusterDemo } = await import('./demo-cluster.ts')
    await runClusterDemo({ durationSec, seed, dataDir })
    process.exit(0)
  }

  let influx: LocalInfluxDb | undefined
  try {
    influx = await startLocalInfluxDb(join(dataDir, 'influxdb'), 'city')
    say(`Data goes to a private InfluxDB 1.x started for the demo: ${influx.url}, database "city" (files in ${influx.dir}).`)
  } catch (err) {
    say(`Data stays in the gateway's spool under ${join(dataDir, 'spool')}: no local InfluxDB (${(err as Error).message}). Set INFLUX_URL to use yours.`)
  }

  const rulesFile = await writeDemoRules(dataDir)

  const config = loadConfig({
    ...process.env,
    DATA_DIR: dataDir,
    MQTT_HOST: process.env.MQTT_HOST ?? '127.0.0.1',
    MQTT_PORT: process.env.MQTT_PORT ?? '0',
    HTTP_HOST: process.env.HTTP_HOST ?? '127.0.0.1',
    HTTP_PORT: process.env.HTTP_PORT ?? '0',
    ALARM_RULES_FILE: rulesFile,
    ALARM_OFFLINE_CHECK_MS: '500',
    ...(influx === undefined ? {} : { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city' }),
  })
  const logFile = join(dataDir, 'gateway.log')
  const { pino } = await import('pino')
  const gateway: Gateway = await startGateway(config, createLogger(config.LOG_LEVEL, pino.destination({ dest: logFile, sync: false })))
  const mqttUrl = `mqtt://127.0.0.1:${gateway.ports.mqtt}`
  say(`Gateway up: MQTT ${mqttUrl}, HTTP http://127.0.0.1:${gateway.ports.http}/metrics, logs in ${logFile}`)

  const devices = planFleet(DISTRICT, FLEET_SIZE, FLEET_ORIGIN.lat, FLEET_ORIGIN.lon, seed)
  const fleetFile = join(dataDir, 'fleet.json')
  const fleet = await provisionFleet(registryPath(dataDir), devices, fleetFile, 'demo-crew')
  await gateway.reloadRegistry()
  say(`Registered ${devices.length} devices in "${DISTRICT}" and crew "demo-crew"; their secrets are in ${fleetFile} (mode 0600).`)
  sayConsole(`http://127.0.0.1:${gateway.ports.http}`, fleet.crew)
  say(`Watch alarms yourself: mosquitto_sub -h 127.0.0.1 -p ${gateway.ports.mqtt} -u demo-crew -P <secret from ${fleetFile}> -t 'alarms/${DISTRICT}/#' -v`)

  const spanMs = durationSec === undefined ? Infinity : durationSec * 1000 * SPEED
  const startMs = Date.now() - 60_000 - (durationSec === undefined ? 86_400_000 : spanMs)
  const injections = planInjections(SCENARIOS.map(parseScenarioSpec), devices, startMs)
  for (const i of injections) say(`  fault ${i.scenario.name} on ${i.deviceId} at +${(i.startMs - startMs) / 60_000} simulated min${i.scenario.alarm === undefined ? ' (invalid payloads: notices, no alarm)' : ` → ${i.scenario.alarm}`}`)
  say(`Simulated time starts ${new Date(startMs).toISOString()} and runs ${SPEED}× faster (a reading per device per simulated minute); ${durationSec === undefined ? 'Ctrl-C to stop' : `stopping after ${durationSec} s`}.`)

  const abort = new AbortController()
  process.once('SIGINT', function onSigint () { abort.abort() })
  process.once('SIGTERM', function onSigterm () { abort.abort() })
  if (durationSec !== undefined) setTimeout(function timeUp () { abort.abort() }, durationSec * 1000 + 2000).unref()
  let lastStatusAt = 0
  const summary = await runSimulation({
    url: mqttUrl,
    devices: fleet.devices,
    crew: fleet.crew,
    seed,
    intervalMs: INTERVAL_MS,
    speed: SPEED,
    startMs,
    spanMs,
    injections,
    signal: abort.signal,
    onAlarm: function printAlarm (event) {
      say(`[${clock(Date.now())}] ${formatAlarm(event)}`)
    },
    onStatus: function printStatus (s) {
      if (Date.now() - lastStatusAt < 5000) return
      lastStatusAt = Date.now()
      void describeStorage(influx).then(function show (stored) {
        say(`[${clock(Date.now())}] sim ${clock(s.simTimeMs)} | ${s.connected}/${s.devices} connected | acknowledged ${s.acknowledged} | rejected ${s.rejected} (${s.notices} notices) | alarm messages ${s.alarmsSeen} | ${stored}`)
      })
    },
  })
  say(`Done: sent ${summary.sent}, acknowledged ${summary.acknowledged}, rejected ${summary.rejected}; alarm messages ${summary.alarms.seen} (raised ${summary.alarms.raised}, cleared ${summary.alarms.cleared}).`)
  await gateway.close()
  say(`Final: ${await describeStorage(influx)}`)
  await influx?.stop()
  say(`Data kept in ${dataDir}`)
  process.exit(0)
}

await main()
