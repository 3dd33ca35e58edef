// `npm run demo`: the gateway on embedded defaults with a small simulated district. Starts a
// private InfluxDB when Debian's influxd is installed (otherwise readings wait in the spool, and it
// says so), registers devices, lets them report over MQTT, and shows what happens to the data.
// Usage: npm run demo [-- --duration <seconds>]
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { loadConfig } from '../broker/config.ts'
import { createLogger } from '../broker/log.ts'
import { startGateway, type Gateway } from '../broker/main.ts'
import { addCrew, addDevice } from '../broker/registry/provision.ts'
import { registryPath } from '../broker/registry/store.ts'
import type { KindName } from '../devices/index.ts'
import { startLocalInfluxDb, type LocalInfluxDb } from './local-influxdb.ts'
import { createRandom, readingGenerators } from './readings.ts'

const DISTRICT = 'old-town'
const FLEET: { id: string; kind: KindName }[] = [
  { id: 'lp-101', kind: 'lamp-post' },
  { id: 'lp-102', kind: 'lamp-post' },
  { id: 'lp-103', kind: 'lamp-post' },
  { id: 'wp-201', kind: 'water-pipe' },
  { id: 'wp-202', kind: 'water-pipe' },
  { id: 'mh-301', kind: 'manhole' },
  { id: 'mh-302', kind: 'manhole' },
]
/** This device runs "bad firmware": every fifth reading has a voltage out of range. */
const FAULTY_DEVICE = 'lp-103'

function say (text: string): void {
  process.stdout.write(`${text}\n`)
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string' } } })
  const durationSec = values.duration === undefined ? undefined : Number(values.duration)
  const dataDir = process.env.DATA_DIR ?? await mkdtemp(join(tmpdir(), 'citygw-demo-'))

  let influx: LocalInfluxDb | undefined
  try {
    influx = await startLocalInfluxDb(join(dataDir, 'influxdb'), 'city')
    say(`InfluxDB 1.x started for the demo at ${influx.url} (database "city", data in ${influx.dir})`)
  } catch (err) {
    say(`No local InfluxDB (${(err as Error).message}): readings will wait in the spool under ${join(dataDir, 'spool')}.`)
  }

  const config = loadConfig({
    ...process.env,
    DATA_DIR: dataDir,
    MQTT_HOST: process.env.MQTT_HOST ?? '127.0.0.1',
    MQTT_PORT: process.env.MQTT_PORT ?? '0',
    HTTP_HOST: process.env.HTTP_HOST ?? '127.0.0.1',
    HTTP_PORT: process.env.HTTP_PORT ?? '0',
    ...(influx === undefined ? {} : { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city' }),
  })
  const logFile = join(dataDir, 'gateway.log')
  const { pino } = await import('pino')
  const gateway: Gateway = await startGateway(config, createLogger(config.LOG_LEVEL, pino.destination({ dest: logFile, sync: false })))
  const mqttUrl = `mqtt://127.0.0.1:${gateway.ports.mqtt}`
  say(`Gateway up: MQTT ${mqttUrl}, HTTP http://127.0.0.1:${gateway.ports.http}/metrics, logs in ${logFile}`)

  const file = registryPath(dataDir)
  const crew = await addCrew(file, 'demo-crew', [DISTRICT])
  const clients: MqttClient[] = []
  const random = createRandom(42)
  let sent = 0
  let notices = 0
  for (const device of FLEET) {
    const { secret } = await addDevice(file, { id: device.id, kind: device.kind, district: DISTRICT })
    await gateway.reloadRegistry()
    const client = await mqtt.connectAsync(mqttUrl, { clientId: device.id, username: device.id, password: secret, protocolVersion: 4 })
    await client.subscribeAsync(`devices/${device.id}/errors`, { qos: 1 })
    client.on('message', function showNotice (_topic, payload) {
      notices++
      say(`  notice to ${device.id}: ${payload.toString()}`)
    })
    clients.push(client)
  }
  say(`Registered ${FLEET.length} devices in district "${DISTRICT}" and crew "demo-crew" (secret ${crew.secret.slice(0, 4)}…, shown once).`)
  say(`Try: mosquitto_sub -h 127.0.0.1 -p ${gateway.ports.mqtt} -u demo-crew -P <secret> -t 'alarms/#'  (alarms arrive with the alarm engine)`)

  let seq = 0
  const timer = setInterval(function reportAll () {
    seq++
    for (const [index, device] of FLEET.entries()) {
      const reading = readingGenerators[device.kind](random, seq) as Record<string, unknown>
      if (device.id === FAULTY_DEVICE && seq % 5 === 0) reading.supplyVoltage = 400
      clients[index]?.publishAsync(`devices/${device.id}/telemetry`, JSON.stringify(reading), { qos: 1 })
        .then(function acknowledged () { sent++ }, function failed (err: Error) { say(`  publish failed: ${err.message}`) })
    }
  }, 1000)

  const status = setInterval(function showStatus () {
    void describeStorage(influx).then(function show (stored) {
      say(`[${new Date().toISOString().slice(11, 19)}] acknowledged ${sent} readings, ${notices} notices; ${stored}`)
    })
  }, 5000)

  async function stop (): Promise<void> {
    clearInterval(timer)
    clearInterval(status)
    await Promise.all(clients.map(function end (c) { return c.endAsync() }))
    await gateway.close()
    say(`Final: ${await describeStorage(influx)}`)
    await influx?.stop()
    say(`Data kept in ${dataDir}`)
    process.exit(0)
  }
  process.once('SIGINT', function onSigint () { void stop() })
  process.once('SIGTERM', function onSigterm () { void stop() })
  if (durationSec !== undefined) setTimeout(function timeUp () { void stop() }, durationSec * 1000)
  say('Running; Ctrl-C to stop.')
}

async function describeStorage (influx: LocalInfluxDb | undefined): Promise<string> {
  if (influx === undefined) return 'InfluxDB not configured: data waits in the spool'
  const counts: string[] = []
  for (const measurement of ['lamp_post', 'water_pipe', 'manhole', 'rejected']) {
    const field = { lamp_post: 'supplyVoltage', water_pipe: 'pressure', manhole: 'coverAngle', rejected: 'payload' }[measurement]
    const body = await influx.query(`SELECT count("${field}") FROM "${measurement}"`, 'city').catch(function unreachable () { return undefined }) as
      { results?: { series?: { values: [number, number][] }[] }[] } | undefined
    counts.push(`${measurement} ${body?.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0}`)
  }
  return `in InfluxDB: ${counts.join(', ')}`
}

await main()
