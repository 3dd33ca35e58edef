// The peer baseline's bridge for `npm run bench`: what a user would build instead of the gateway —
// an MQTT.js subscriber (QoS 1, `devices/+/telemetry`) on Mosquitto feeding
// @influxdata/influxdb-client's WriteApi with its default batching. No auth, no validation, no
// durability: a reading is in memory only between the PUBACK Mosquitto got and the batch write.
// Enters: env PEER_MQTT_URL, PEER_INFLUX_URL, PEER_DATABASE. Leaves: JSON lines on stdout —
// {msg:'bridge ready'}, {msg:'bridge stopped', received, written, writeErrors} after SIGTERM.
// Debian's influxd is 1.6 (no /api/v2/write): the transport maps the client's v2 write path to
// /write?db=…; everything else is the client as shipped.
import { InfluxDB, Point, type Transport } from '@influxdata/influxdb-client'
import { connectAsync } from 'mqtt'

function env (name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is required`)
  return value
}

function emit (line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

async function main (): Promise<void> {
  const mqttUrl = env('PEER_MQTT_URL')
  const influxUrl = env('PEER_INFLUX_URL')
  const database = env('PEER_DATABASE')
  const maxSec = Number(process.env.PEER_MAX_SEC ?? '600')

  const base = new InfluxDB({ url: influxUrl }).transport
  const v1Transport: Transport = {
    send (path, body, options, callbacks) {
      const url = new URL(path, 'http://x')
      const v1Path = url.pathname === '/api/v2/write'
        ? `/write?${new URLSearchParams({ db: database, precision: url.searchParams.get('precision') ?? 'ns' }).toString()}`
        : path
      base.send(v1Path, body, options, callbacks)
    },
    request (path, body, options, responseStarted) { return base.request(path, body, options, responseStarted) },
    iterate (path, body, options) { return base.iterate(path, body, options) },
    chunkCombiner: base.chunkCombiner,
  }
  let written = 0
  let writeErrors = 0
  const writeApi = new InfluxDB({ url: influxUrl, transport: v1Transport }).getWriteApi('', database, 'ns', {
    writeSuccess (lines) { written += lines.length },
    writeFailed (err) {
      writeErrors++
      process.stderr.write(`bridge: write failed: ${err.message}\n`)
    },
  })

  let received = 0
  let seq = 0
  const client = await connectAsync(mqttUrl, { clientId: 'peer-bridge', clean: true, reconnectPeriod: 1000, connectTimeout: 10_000 })
  client.on('message', function onTelemetry (topic, payload) {
    received++
    const deviceId = topic.split('/')[1] ?? 'unknown'
    let reading: Record<string, unknown>
    try {
      reading = JSON.parse(payload.toString('utf8')) as Record<string, unknown>
    } catch {
      return
    }
    const point = new Point('reading').tag('device_id', deviceId)
    for (const [field, value] of Object.entries(reading)) {
      if (typeof value === 'number') point.floatField(field, value)
      else if (typeof value === 'boolean') point.booleanField(field, value)
    }
    // Receive time in ns, unique per reading: two readings of one device in the same ms stay two points.
    seq = (seq + 1) % 1_000_000
    point.timestamp(`${Date.now()}${String(seq).padStart(6, '0')}`)
    writeApi.writePoint(point)
  })
  await client.subscribeAsync('devices/+/telemetry', { qos: 1 })
  emit({ msg: 'bridge ready', pid: process.pid })

  let isStopping = false
  async function stop (): Promise<void> {
    if (isStopping) return
    isStopping = true
    await client.endAsync().catch(function ignoreEnd () { /* stopping anyway */ })
    await writeApi.close().catch(function flushFailed (err: unknown) { process.stderr.write(`bridge: final flush failed: ${String(err)}\n`) })
    emit({ msg: 'bridge stopped', received, written, writeErrors })
    process.exit(0)
  }
  setTimeout(function lifetime () { void stop() }, maxSec * 1000).unref()
  process.once('SIGTERM', function onTerm () { void stop() })
  process.once('SIGINT', function onInt () { void stop() })
  process.stdin.on('data', function ignoreInput () { /* only its end matters */ })
  process.stdin.once('end', function runnerGone () { void stop() })
}

main().catch(function failed (err: unknown) {
  process.stderr.write(`peer bridge failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
