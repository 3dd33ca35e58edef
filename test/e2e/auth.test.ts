// Authentication and topic rules at the broker: refused at CONNECT, own topics only, crews limited
// to their districts, removal from the registry disconnects — all with real MQTT clients.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { removeDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, connectDevice, connectOutcome, subscribeCodes } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let influx: InfluxDb1Server
let gw: TestGateway
let secrets: Record<string, string>
const clients: MqttClient[] = []

beforeAll(async () => {
  influx = await startInfluxDb1({ databases: ['city'] })
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
  secrets = {
    a: (await registerDevice(gw.dataDir, 'dev-a', 'manhole', 'north')).secret,
    b: (await registerDevice(gw.dataDir, 'dev-b', 'manhole', 'south')).secret,
    crewNorth: (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret,
  }
  await gw.gateway.reloadRegistry()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await gw?.close(true)
  await influx?.close()
})

async function count (id: string): Promise<number> {
  const [result] = await influx.query(`SELECT count(coverAngle) FROM manhole WHERE device_id = '${id}'`, 'city')
  return Number(result?.series?.[0]?.values[0]?.[1] ?? 0)
}

describe('CONNECT', () => {
  it.each([
    ['a wrong secret', { clientId: 'dev-a', username: 'dev-a', password: 'wrong' }, /Bad username or password/i],
    ['anonymous', { clientId: 'dev-a' }, /Not authorized/i],
    ['a username without password', { clientId: 'dev-a', username: 'dev-a' }, /Not authorized/i],
    ['an unknown device', { clientId: 'ghost', username: 'ghost', password: 'x' }, /Bad username or password/i],
  ])('refuses %s', async (_name, options, text) => {
    expect(await connectOutcome(gw.mqttUrl, options)).toMatch(text)
  })

  it('refuses a client id that is not the username', async () => {
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'dev-b', username: 'dev-a', password: secrets.a! })).toMatch(/Not authorized/i)
  })

  it('admits a device with its own id and secret', async () => {
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'dev-a', username: 'dev-a', password: secrets.a! })).toBe('connected')
  })

  it('counts refusals in /metrics', async () => {
    const text = await (await fetch(`${gw.httpUrl}/metrics`)).text()
    expect(text).toMatch(/citygw_auth_failures_total\{reason="bad_secret"\} [1-9]/)
    expect(text).toMatch(/citygw_auth_failures_total\{reason="client_id_mismatch"\} [1-9]/)
  })
})

describe('own topics only', () => {
  it('closes a device publishing to another device\'s topic and stores nothing', async () => {
    const a = await connectDevice(gw.mqttUrl, 'dev-a', secrets.a!)
    clients.push(a)
    const closed = new Promise<void>((resolve) => a.once('close', () => resolve()))
    a.publish('devices/dev-b/telemetry', JSON.stringify({ coverAngle: 1 }), { qos: 1 })
    await closed
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await count('dev-b')).toBe(0)
  })

  it('refuses subscriptions outside the device\'s own errors and commands', async () => {
    const a = await connectDevice(gw.mqttUrl, 'dev-a', secrets.a!)
    clients.push(a)
    const codes = await subscribeCodes(a, ['alarms/#', 'devices/dev-b/errors', 'devices/+/telemetry', '#', 'devices/dev-a/errors', 'devices/dev-a/commands/#'])
    expect(codes).toEqual([128, 128, 128, 128, 1, 1])
    expect(a.connected).toBe(true)
  })

  it('lets a crew of north see north alarms only, and nothing of devices', async () => {
    const crew = await connectClient(gw.mqttUrl, { clientId: 'phone-1', username: 'crew-north', password: secrets.crewNorth! })
    clients.push(crew)
    const codes = await subscribeCodes(crew, ['alarms/north/#', 'alarms/south/#', 'alarms/#', 'devices/dev-a/telemetry'])
    expect(codes).toEqual([1, 128, 128, 128])
  })

  it('does not let a crew publish telemetry', async () => {
    const crew = await connectClient(gw.mqttUrl, { clientId: 'phone-2', username: 'crew-north', password: secrets.crewNorth! })
    const closed = new Promise<void>((resolve) => crew.once('close', () => resolve()))
    crew.publish('devices/dev-a/telemetry', JSON.stringify({ coverAngle: 1 }), { qos: 1 })
    await closed
    await crew.endAsync(true)
  })
})

describe('registry changes while running', () => {
  it('lets a device added by the CLI connect, and disconnects a removed one', async () => {
    const { secret } = await registerDevice(gw.dataDir, 'dev-new', 'manhole', 'north')
    // No explicit reload: the gateway notices the file change by itself.
    const client = await eventually(() => connectDevice(gw.mqttUrl, 'dev-new', secret), () => true, { what: 'new device admitted' })
    clients.push(client)
    const errors = await collect(client, 'devices/dev-new/errors')
    expect(errors.granted[0]?.qos).toBe(1)
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    await removeDevice(registryPath(gw.dataDir), 'dev-new')
    await closed
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'dev-new', username: 'dev-new', password: secret })).toMatch(/Bad username or password/i)
  })
})
