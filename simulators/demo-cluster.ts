// `npm run demo -- --cluster`: the demo district on a cluster: three local nats-servers (JetStream,
// every stream and bucket replicated 3×), two gateway nodes as separate processes, devices spread
// over both. Midway one node is killed with SIGKILL; the demo then shows that its devices moved to
// the other node, that alarms kept arriving, and that every acknowledged message is stored.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { connectNats, replicasFor } from '../broker/cluster/connection.ts'
import { openRegistryBucket } from '../broker/cluster/registry-bucket.ts'
import { kvRegistryStore } from '../broker/cluster/registry-kv-store.ts'
import { createLogger } from '../broker/log.ts'
import { formatAlarm } from './alarm-watcher.ts'
import { clock, countStored, DISTRICT, FLEET_ORIGIN, FLEET_SIZE, INTERVAL_MS, SCENARIOS, say, sayConsole, SPEED, writeDemoRules } from './demo-district.ts'
import { planFleet, provisionFleet } from './fleet.ts'
import { spawnGatewayNode, type GatewayNode } from './gateway-node.ts'
import { startLocalInfluxDb } from './local-influxdb.ts'
import { NATS_SERVER_PATH, startLocalNatsCluster } from './local-nats.ts'
import { parseScenarioSpec, planInjections } from './scenarios/index.ts'
import { runSimulation } from './simulate.ts'
import { createKeyFile, newKeyFile } from '../broker/crypto/key-file.ts'

const ENSURE_DEPS = fileURLToPath(new URL('../scripts/ensure-deps.sh', import.meta.url))
/** Without --duration the cluster demo runs this long, so that the node kill and the summary happen. */
const DEFAULT_DURATION_SEC = 40
/** After the load, how long the surviving node may take to write the last messages to InfluxDB. */
const DRAIN_TIMEOUT_MS = 30_000

export interface ClusterDemoOptions { durationSec: number | undefined, seed: number, dataDir: string }

function ensureNatsServer (): void {
  if (existsSync(NATS_SERVER_PATH)) return
  say('nats-server is missing: installing it (scripts/ensure-deps.sh --demo-cluster)…')
  const result = spawnSync('bash', [ENSURE_DEPS, '--demo-cluster'], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (result.status !== 0) throw new Error('nats-server is needed for --cluster: apt-get install nats-server')
}

export async function runClusterDemo (options: ClusterDemoOptions): Promise<void> {
  ensureNatsServer()
  const durationSec = options.durationSec ?? DEFAULT_DURATION_SEC
  const { dataDir, seed } = options
  const influx = await startLocalInfluxDb(join(dataDir, 'influxdb'), 'city')
  const nats = await startLocalNatsCluster(join(dataDir, 'nats'), 3)
  say(`NATS JetStream cluster of 3 servers: ${nats.urls.join(', ')}; InfluxDB 1.x: ${influx.url}, database "city".`)

  const rulesFile = await writeDemoRules(dataDir)
  const devices = planFleet(DISTRICT, FLEET_SIZE, FLEET_ORIGIN.lat, FLEET_ORIGIN.lon, seed)
  const fleetFile = join(dataDir, 'fleet.json')
  const nc = await connectNats({ NATS_URL: [...nats.urls] }, 'citygw-demo', createLogger('silent'))
  const bucket = await openRegistryBucket(nc, await replicasFor(nc, undefined))
  const fleet = await provisionFleet(kvRegistryStore(bucket, createLogger('silent')), devices, fleetFile, 'demo-crew')
  await nc.close()
  say(`Registered ${devices.length} devices in "${DISTRICT}" and crew "demo-crew" in the cluster's registry; secrets in ${fleetFile} (mode 0600).`)

  // Both nodes share one data key file (cluster mode requires DATA_KEY_FILE).
  const keyFile = join(dataDir, 'data.key')
  await createKeyFile(keyFile, newKeyFile())
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_KEY_FILE: keyFile,
    NATS_URL: nats.urls.join(','),
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    INFLUX_URL: influx.url,
    INFLUX_API: 'v1',
    INFLUX_DATABASE: 'city',
    ALARM_RULES_FILE: rulesFile,
    ALARM_OFFLINE_CHECK_MS: '500',
  }
  const nodes: GatewayNode[] = []
  for (const name of ['node-a', 'node-b']) {
    nodes.push(await spawnGatewayNode(name, { ...env, DATA_DIR: join(dataDir, name) }, join(dataDir, `${name}.log`)))
  }
  const [victim, survivor] = nodes as [GatewayNode, GatewayNode]
  for (const node of nodes) say(`Gateway ${node.name}: MQTT ${node.mqttUrl}, HTTP ${node.httpUrl}/metrics, log ${join(dataDir, `${node.name}.log`)}`)
  sayConsole(survivor.httpUrl, fleet.crew)
  say(`Devices and the crew know both nodes and spread over them; ${victim.name} gets SIGKILL after ${Math.round(durationSec / 2)} s.`)

  const spanMs = durationSec * 1000 * SPEED
  const startMs = Date.now() - 60_000 - spanMs
  const injections = planInjections(SCENARIOS.map(parseScenarioSpec), devices, startMs)
  const abort = new AbortController()
  process.once('SIGINT', function onSigint () { abort.abort() })
  process.once('SIGTERM', function onSigterm () { abort.abort() })
  setTimeout(function timeUp () { abort.abort() }, durationSec * 1000 + 2000).unref()

  let killedAt: number | undefined
  let alarmsAfterKill = 0
  const killTimer = setTimeout(function killNode () {
    void (async function kill () {
      const held = await victim.connections()
      victim.child.kill('SIGKILL')
      killedAt = Date.now()
      say(`[${clock(Date.now())}] ${victim.name} killed with SIGKILL while it held ${held ?? '?'} connections`)
      setTimeout(function reportMove () {
        void survivor.connections().then(function show (n) {
          say(`[${clock(Date.now())}] devices moved: ${survivor.name} now holds ${n ?? '?'} connections (${devices.length} devices + the crew)`)
        })
      }, 5000).unref()
    })()
  }, durationSec * 500)
  killTimer.unref()

  let lastStatusAt = 0
  const summary = await runSimulation({
    url: nodes.map(function urlOf (n) { return n.mqttUrl }).join(','),
    devices: fleet.devices,
    crew: fleet.crew,
    seed,
    intervalMs: INTERVAL_MS,
    speed: SPEED,
    startMs,
    spanMs,
    injections,
    backoffBaseMs: 200,
    backoffMaxMs: 2000,
    signal: abort.signal,
    onAlarm: function printAlarm (event) {
      if (killedAt !== undefined && !event.isRetained) alarmsAfterKill++
      say(`[${clock(Date.now())}] ${formatAlarm(event)}`)
    },
    onStatus: function printStatus (s) {
      if (Date.now() - lastStatusAt < 5000) return
      lastStatusAt = Date.now()
      say(`[${clock(Date.now())}] sim ${clock(s.simTimeMs)} | ${s.connected}/${s.devices} connected | acknowledged ${s.acknowledged} | rejected ${s.rejected} | reconnects ${s.reconnects} | alarm messages ${s.alarmsSeen}`)
    },
  })
  clearTimeout(killTimer)
  say(`Done: sent ${summary.sent}, acknowledged ${summary.acknowledged} (${summary.reconnects} reconnects); alarm messages ${summary.alarms.seen}, ${alarmsAfterKill} of them after the kill.`)

  // Every acknowledged message is a stored reading batch or a stored `rejected` point: wait for the survivor's writer.
  const deadline = Date.now() + DRAIN_TIMEOUT_MS
  let stored = await countStored(influx)
  while (stored.readings + stored.rejected < summary.acknowledged && Date.now() < deadline) {
    await new Promise(function pause (resolve) { setTimeout(resolve, 500) })
    stored = await countStored(influx)
  }
  say(`Stored: ${stored.text}`)
  say(stored.readings + stored.rejected >= summary.acknowledged
    ? `acknowledged = stored: ${summary.acknowledged} acknowledged messages, ${stored.readings} readings + ${stored.rejected} rejected messages in InfluxDB`
    : `NOT all stored yet: ${summary.acknowledged} acknowledged, ${stored.readings + stored.rejected} in InfluxDB`)
  survivor.child.kill('SIGTERM')
  await survivor.exited
  await nats.close()
  await influx.stop()
  say(`Data kept in ${dataDir}`)
}
