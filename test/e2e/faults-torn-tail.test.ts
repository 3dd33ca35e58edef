// A torn write at the spool's tail (a record cut mid-way by a crash): on start the gateway cuts it,
// keeps every whole record, delivers them all to InfluxDB and goes on appending after the cut.
import { appendFile, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect, it, onTestFinished } from 'vitest'
import { startInfluxDb1 } from '../helpers/influxdb.ts'
import { registerDevice, startTestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

it('recovers every whole record after a torn tail and delivers it end to end', async () => {
  const influx = await startInfluxDb1({ databases: ['city'] })
  onTestFinished(() => influx.close())
  const dataDir = await makeTempDir('citygw-torn-')
  onTestFinished(() => removeTempDir(dataDir))
  const { secret } = await registerDevice(dataDir, 'torn-1', 'manhole')
  const base = Date.now() - 3_600_000

  // 1. Readings acknowledged while InfluxDB is not configured: they wait in the spool.
  const first = await startTestGateway({ dataDir })
  const client = await connectDevice(first.mqttUrl, 'torn-1', secret)
  for (let i = 0; i < 50; i++) await client.publishAsync('devices/torn-1/telemetry', JSON.stringify({ ts: base + i, coverAngle: 3 }), { qos: 1 })
  await client.endAsync()
  await first.close()

  // 2. The crash: half of a record written after the last whole one.
  const spoolDir = join(dataDir, 'spool')
  const segments = (await readdir(spoolDir)).filter((f) => f.endsWith('.seg')).sort()
  const last = join(spoolDir, segments.at(-1)!)
  const whole = await readFile(last)
  expect(whole.length).toBeGreaterThan(0)
  await appendFile(last, whole.subarray(0, Math.floor(whole.length / 50 / 2)))

  // 3. Restart with InfluxDB: the torn record is cut, the 50 whole ones delivered, new ones appended.
  const second = await startTestGateway({ dataDir, env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
  onTestFinished(() => second.close())
  expect(second.logs().some((l) => l.code === 'CSG_SPOOL_CORRUPT')).toBe(true)
  const again = await connectDevice(second.mqttUrl, 'torn-1', secret)
  onTestFinished(() => again.endAsync(true))
  for (let i = 50; i < 55; i++) await again.publishAsync('devices/torn-1/telemetry', JSON.stringify({ ts: base + i, coverAngle: 3 }), { qos: 1 })
  const stored = await eventually(async () => {
    const [result] = await influx.query("SELECT coverAngle FROM manhole WHERE device_id = 'torn-1'", 'city')
    return (result?.series?.[0]?.values ?? []).map((row) => row[0] as number)
  }, (times) => times.length >= 55, { what: '55 readings' })
  expect(stored).toEqual(Array.from({ length: 55 }, (_, i) => base + i))
}, 60_000)
