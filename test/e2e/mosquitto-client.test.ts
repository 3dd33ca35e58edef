// A client no one here wrote: mosquitto_pub / mosquitto_sub (Debian mosquitto-clients) against the
// gateway; the reading lands in InfluxDB, and a bad one's notice reaches mosquitto_sub.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '../helpers/server-process.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { eventually } from '../helpers/wait.ts'

const run = promisify(execFile)
let influx: InfluxDb1Server
let gw: TestGateway
let secret: string

beforeAll(async () => {
  requireBinary('/usr/bin/mosquitto_pub', 'mosquitto-clients')
  influx = await startInfluxDb1({ databases: ['city'] })
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
  secret = (await registerDevice(gw.dataDir, 'lp-mosq', 'lamp-post', 'centre')).secret
  await gw.gateway.reloadRegistry()
})
afterAll(async () => {
  await gw?.close(true)
  await influx?.close()
})

function auth (): string[] {
  return ['-h', '127.0.0.1', '-p', String(gw.gateway.ports.mqtt), '-i', 'lp-mosq', '-u', 'lp-mosq', '-P', secret, '-V', 'mqttv311']
}

describe('mosquitto clients', () => {
  it('mosquitto_pub publishes a reading that lands in InfluxDB', async () => {
    const ts = Date.now() - 5000
    await run('mosquitto_pub', [...auth(), '-q', '1', '-t', 'devices/lp-mosq/telemetry', '-m', JSON.stringify({ ts, commandedLevel: 100, supplyVoltage: 229.9, activePower: 61.2, doorOpen: true })], { timeout: 10_000 })
    const [result] = await eventually(
      () => influx.query(`SELECT commandedLevel, supplyVoltage, activePower, doorOpen FROM lamp_post WHERE device_id = 'lp-mosq'`, 'city'),
      (r) => (r[0]?.series?.[0]?.values[0] ?? []).every((v) => v !== null) && r[0]?.series?.[0]?.values.length === 1,
    )
    expect(result?.series?.[0]?.values[0]).toEqual([ts, 100, 229.9, 61.2, true])
  })

  it('mosquitto_sub receives the notice for a bad reading (persistent session, one client id)', async () => {
    // A device has one client id, so subscriber and publisher take turns on one persistent session:
    // subscribe and leave, publish the bad reading, come back for the queued notice.
    await run('mosquitto_sub', [...auth(), '-c', '-q', '1', '-t', 'devices/lp-mosq/errors', '-E'], { timeout: 10_000 })
    await run('mosquitto_pub', [...auth(), '-c', '-q', '1', '-t', 'devices/lp-mosq/telemetry', '-m', '{"commandedLevel": 500, "supplyVoltage": 230, "activePower": 1}'], { timeout: 10_000 })
    const { stdout } = await run('mosquitto_sub', [...auth(), '-c', '-q', '1', '-t', 'devices/lp-mosq/errors', '-C', '1', '-W', '10'], { timeout: 15_000 })
    expect(JSON.parse(stdout)).toMatchObject({ status: 'rejected', readings: [{ index: 0, issues: [{ field: 'commandedLevel' }] }] })
  })
})
