// Data-quality alarms through the real gateway: an MQTT.js water-pipe whose pressure sensor is stuck
// raises stuckSensor (after 5 identical readings, from the rules file) and clears when the value
// changes; one whose clock lags 5 min raises clockSkew after 10 readings sent at the pace of their
// ts and clears after 10 good ones; each change is an `alarms` point in InfluxDB; a device the
// rules file switches both rules off for raises neither, and switching one off in the running
// gateway's rules file clears its open alarm.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const DEVICES = ['wp-stuck', 'wp-late', 'wp-quiet'] as const
type DeviceId = (typeof DEVICES)[number]

let influx: InfluxDb1Server
let gw: TestGateway
let crew: MqttClient
let rulesFile: string
let alarms: Awaited<ReturnType<typeof collect>>
const devices = new Map<DeviceId, MqttClient>()

beforeAll(async () => {
  influx = await startInfluxDb1({ databases: ['city'] })
  const dataDir = await makeTempDir('citygw-quality-')
  rulesFile = join(dataDir, 'rules.json')
  await writeRules({ readings: 5, minSpanSec: 0 })
  gw = await startTestGateway({ dataDir, env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', ALARM_RULES_FILE: rulesFile } })
  const secrets = await Promise.all(DEVICES.map((id) => registerDevice(gw.dataDir, id, 'water-pipe', 'river')))
  const crewSecret = (await registerCrew(gw.dataDir, 'crew-river', ['river'])).secret
  await gw.gateway.reloadRegistry()
  for (const [i, id] of DEVICES.entries()) devices.set(id, await connectDevice(gw.mqttUrl, id, secrets[i]!.secret))
  crew = await connectClient(gw.mqttUrl, { clientId: 'crew-river-phone', username: 'crew-river', password: crewSecret })
  alarms = await collect(crew, 'alarms/river/#')
})
afterAll(async () => {
  await Promise.all([...devices.values()].map((d) => d.endAsync(true)))
  await crew?.endAsync(true)
  await gw?.close(true)
  await influx?.close()
})

/** The test's rules file, with these stuckSensor parameters for every water pipe. */
async function writeRules (stuckSensor: Record<string, number | boolean>): Promise<void> {
  await writeFile(rulesFile, JSON.stringify({
    kinds: { 'water-pipe': { rules: { stuckSensor, clockSkew: { sampleSec: 0.2 } } } },
    devices: { 'wp-quiet': { rules: { stuckSensor: { enabled: false }, clockSkew: { enabled: false } } } },
  }))
}

async function publish (id: DeviceId, reading: Record<string, unknown>): Promise<void> {
  await devices.get(id)!.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
}

function alarmsOf (id: DeviceId, type: string): Record<string, unknown>[] {
  return alarms.messages
    .filter((m) => m.topic === `alarms/river/water-pipe/${id}/${type}`)
    .map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>)
}

async function settle (): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 250))
}

async function alarmPoints (id: DeviceId, type: string): Promise<unknown[][]> {
  const [result] = await eventually(
    () => influx.query(`SELECT state, severity, value, threshold, message FROM alarms WHERE device_id = '${id}' AND "type" = '${type}'`, 'city'),
    (r) => (r[0]?.series?.[0]?.values.length ?? 0) >= 2,
    { what: `${type} points of ${id} in InfluxDB` },
  )
  return result!.series![0]!.values
}

describe('data-quality alarms', () => {
  it('raises stuckSensor after 5 identical pressures, names the field and since when, and clears when it changes', async () => {
    const firstTs = Date.now() - 60_000
    for (let i = 0; i < 4; i++) {
      for (const id of ['wp-stuck', 'wp-quiet'] as const) await publish(id, { ts: firstTs + i * 1000, pressure: 412.5, flowRate: 30 + i })
    }
    await settle()
    expect(alarmsOf('wp-stuck', 'stuckSensor')).toEqual([])
    for (const id of ['wp-stuck', 'wp-quiet'] as const) await publish(id, { ts: firstTs + 4000, pressure: 412.5, flowRate: 40 })
    await alarms.waitFor(1)
    const [raised] = await eventually(() => alarmsOf('wp-stuck', 'stuckSensor'), (m) => m.length === 1, { timeoutMs: 5000, what: 'stuckSensor raised' })
    expect(raised).toMatchObject({ type: 'stuckSensor', severity: 'warning', state: 'active', value: 412.5, threshold: 5 })
    expect(raised!.message).toBe(`Pressure has reported exactly 412.5 kPa in 5 readings in a row since ${new Date(firstTs).toISOString()}: the sensor may be stuck.`)

    for (const id of ['wp-stuck', 'wp-quiet'] as const) await publish(id, { ts: firstTs + 5000, pressure: 409.8, flowRate: 41 })
    const messages = await eventually(() => alarmsOf('wp-stuck', 'stuckSensor'), (m) => m.length === 2, { timeoutMs: 5000, what: 'stuckSensor cleared' })
    expect(messages[1]).toMatchObject({ id: raised!.id, state: 'cleared', value: 409.8, message: 'Pressure changes again (now 409.8 kPa).' })

    const points = await alarmPoints('wp-stuck', 'stuckSensor')
    expect(points.map((row) => row.slice(1, 5))).toEqual([['active', 'warning', 412.5, 5], ['cleared', 'warning', 409.8, 5]])
  })

  it('raises clockSkew for a clock 5 min behind after 10 readings, and clears after 10 good ones', async () => {
    let sent = 0
    /** One reading every 300 ms, stamped by a clock `skewMs` off, as a live device sends them. */
    async function live (skewMs: number): Promise<void> {
      await new Promise((resolve) => setTimeout(resolve, 300))
      const reading = { ts: Date.now() + skewMs, pressure: 400 + (sent++ % 7) }
      await Promise.all((['wp-late', 'wp-quiet'] as const).map((id) => publish(id, reading)))
    }
    for (let i = 0; i < 9; i++) await live(-300_000)
    await settle()
    expect(alarmsOf('wp-late', 'clockSkew')).toEqual([])
    // The 10th raises it; a reading whose delivery lagged its ts by more than the pace tolerance
    // (a loaded machine) is not judged, so a few more may be needed.
    let behind = 9
    while (alarmsOf('wp-late', 'clockSkew').length === 0 && behind < 30) {
      await live(-300_000)
      behind++
      if (behind >= 10) await settle()
    }
    const [raised] = alarmsOf('wp-late', 'clockSkew')
    expect(raised).toMatchObject({ type: 'clockSkew', severity: 'warning', state: 'active', threshold: 120 })
    expect(raised!.value).toBeCloseTo(-300, -1)
    expect(raised!.message).toBe('The device\'s clock is 5 min behind the gateway\'s (more than 2 min on 10 readings in a row): durations and rates judged from its readings are suspect.')

    // The clock is set right: the reading of the step itself is not judged, then ten good ones clear it.
    let good = 0
    for (; good < 10; good++) await live(0)
    await settle()
    expect(alarmsOf('wp-late', 'clockSkew')).toHaveLength(1)
    while (alarmsOf('wp-late', 'clockSkew').length === 1 && good < 30) {
      await live(0)
      good++
      await settle()
    }
    const [, cleared] = alarmsOf('wp-late', 'clockSkew')
    expect(cleared).toMatchObject({ id: raised!.id, state: 'cleared' })
    expect(cleared!.message).toMatch(/^The device's clock agrees with the gateway's again \(\d+ s off; within 2 min on 10 readings in a row\)\.$/)

    const points = await alarmPoints('wp-late', 'clockSkew')
    expect(points.map((row) => row.slice(1, 3))).toEqual([['active', 'warning'], ['cleared', 'warning']])
  })

  it('takes a changed rules file while running: switching stuckSensor off clears the open alarm', async () => {
    const firstTs = Date.now() - 30_000
    for (let i = 0; i < 5; i++) await publish('wp-stuck', { ts: firstTs + i * 1000, pressure: 398.2 })
    await eventually(() => alarmsOf('wp-stuck', 'stuckSensor'), (m) => m.length === 3, { timeoutMs: 5000, what: 'stuckSensor raised again' })
    await writeRules({ enabled: false })
    const messages = await eventually(() => alarmsOf('wp-stuck', 'stuckSensor'), (m) => m.length === 4, { timeoutMs: 10_000, what: 'stuckSensor cleared by the reload' })
    expect(messages[3]).toMatchObject({ id: messages[2]!.id, state: 'cleared', message: 'The stuckSensor rule was switched off.' })
  })

  it('raises neither for a device the rules file switches them off for', async () => {
    await settle()
    expect(alarms.messages.filter((m) => m.topic.startsWith('alarms/river/water-pipe/wp-quiet/'))).toEqual([])
    const [result] = await influx.query('SELECT count(message) FROM alarms WHERE device_id = \'wp-quiet\'', 'city')
    expect(result?.series).toBeUndefined()
  })
})
