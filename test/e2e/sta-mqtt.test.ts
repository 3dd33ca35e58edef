// The SensorThings MQTT extension against a real gateway: crews subscribe with MQTT.js and with
// mosquitto_sub (a client no one here wrote) to v1.1/Datastreams('<id>')/Observations and
// v1.1/Observations and receive each accepted reading as an Observation, only what their districts
// see; hidden Datastreams and wildcards are refused; nobody may publish on v1.1/.
import { spawn } from 'node:child_process'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, connectDevice, subscribeCodes } from '../helpers/mqtt.ts'
import { requireBinary } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

type Json = Record<string, unknown>
const LAMP_POWER = 'v1.1/Datastreams(\'lamp-001:activePower\')/Observations'

describe('SensorThings MQTT extension', () => {
  let gw: TestGateway
  const secrets: Record<string, string> = {}
  const clients: MqttClient[] = []

  async function crew (name: string): Promise<MqttClient> {
    const client = await connectClient(gw.mqttUrl, { clientId: `${name}-${clients.length}`, username: name, password: secrets[name]! })
    clients.push(client)
    return client
  }
  async function device (id: string): Promise<MqttClient> {
    const client = await connectDevice(gw.mqttUrl, id, secrets[id]!)
    clients.push(client)
    return client
  }

  beforeAll(async () => {
    requireBinary('/usr/bin/mosquitto_sub', 'mosquitto-clients')
    gw = await startTestGateway()
    const file = registryPath(gw.dataDir)
    secrets['lamp-001'] = (await addDevice(file, { id: 'lamp-001', kind: 'lamp-post', district: 'north', lat: 53.55, lon: 9.99 })).secret
    secrets['pipe-002'] = (await addDevice(file, { id: 'pipe-002', kind: 'water-pipe', district: 'south' })).secret
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    secrets['crew-all'] = (await registerCrew(gw.dataDir, 'crew-all')).secret
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => {
    for (const client of clients) await client.endAsync(true)
    await gw?.close(true)
  })

  it('grants the topics a crew\'s districts see and refuses the others', async () => {
    const north = await crew('crew-north')
    expect(await subscribeCodes(north, [LAMP_POWER, 'v1.1/Observations'])).toEqual([1, 1])
    expect(await subscribeCodes(north, ['v1.1/Datastreams(\'pipe-002:pressure\')/Observations'])).toEqual([128])
    expect(await subscribeCodes(north, ['v1.1/Datastreams(\'lamp-001:colour\')/Observations', 'v1.1/#', 'v1.1/+/Observations'])).toEqual([128, 128, 128])
    const lamp = await device('lamp-001')
    expect(await subscribeCodes(lamp, [LAMP_POWER])).toEqual([128])
  })

  it('delivers each accepted reading as an Observation, scoped per subscriber (MQTT.js)', async () => {
    // One client per filter: collect() sees every message of its client.
    const one = await collect(await crew('crew-north'), LAMP_POWER)
    const northAll = await collect(await crew('crew-north'), 'v1.1/Observations')
    const everyone = await collect(await crew('crew-all'), 'v1.1/Observations')
    expect([one.granted[0]?.qos, northAll.granted[0]?.qos, everyone.granted[0]?.qos]).toEqual([1, 1, 1])

    const lamp = await device('lamp-001')
    const pipe = await device('pipe-002')
    const ts = Date.now() - 2000
    await pipe.publishAsync('devices/pipe-002/telemetry', JSON.stringify({ ts, pressure: 401.5, flowRate: 3 }), { qos: 1 })
    await lamp.publishAsync('devices/lamp-001/telemetry', JSON.stringify([{ ts, commandedLevel: 80, supplyVoltage: 230, activePower: 42.5 }, { ts: ts + 1000, commandedLevel: 80, supplyVoltage: 231, activePower: 43 }]), { qos: 1 })

    await one.waitFor(2)
    const first = one.json(0)
    expect(first).toEqual({
      '@iot.id': `lamp-001:activePower:${ts}`,
      '@iot.selfLink': `${gw.httpUrl}/sta/v1.1/Observations('lamp-001:activePower:${ts}')`,
      phenomenonTime: new Date(ts).toISOString(),
      resultTime: expect.any(String) as unknown,
      result: 42.5,
      'Datastream@iot.navigationLink': `${gw.httpUrl}/sta/v1.1/Observations('lamp-001:activePower:${ts}')/Datastream`,
      'FeatureOfInterest@iot.navigationLink': `${gw.httpUrl}/sta/v1.1/Observations('lamp-001:activePower:${ts}')/FeatureOfInterest`,
    })
    expect(Date.parse(first.resultTime as string)).toBeGreaterThanOrEqual(ts)
    expect(one.json(1).result).toBe(43)

    // Everything: 2 pipe fields + 2 × 3 lamp fields; crew-north sees the lamp's 6 only.
    await everyone.waitFor(8)
    await northAll.waitFor(6)
    const ids = (messages: { payload: Buffer }[]): string[] => messages.map((m) => (JSON.parse(m.payload.toString()) as Json)['@iot.id'] as string).sort()
    expect(ids(everyone.messages).filter((id) => id.startsWith('pipe-002'))).toEqual([`pipe-002:flowRate:${ts}`, `pipe-002:pressure:${ts}`])
    // A last reading the north crew may see: everything before it has been delivered or dropped.
    await lamp.publishAsync('devices/lamp-001/telemetry', JSON.stringify({ ts: ts + 2000, commandedLevel: 1, supplyVoltage: 230, activePower: 7 }), { qos: 1 })
    await northAll.waitFor(9)
    expect(ids(northAll.messages).every((id) => id.startsWith('lamp-001:'))).toBe(true)
    expect(northAll.messages.map((m) => m.topic).every((t) => t === 'v1.1/Observations')).toBe(true)
  })

  it('delivers to mosquitto_sub', async () => {
    // stdbuf: mosquitto_sub's stdout is a pipe here, and its debug lines must arrive as written.
    const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(gw.gateway.ports.mqtt), '-i', 'crew-north-mosq', '-u', 'crew-north', '-P', secrets['crew-north']!,
      '-V', 'mqttv311', '-q', '1', '-t', LAMP_POWER, '-C', '2', '-W', '15', '-d'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    sub.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const exited = new Promise<number | null>((resolve) => sub.on('exit', resolve))
    try {
      await eventually(() => Promise.resolve(out), (text) => text.includes('SUBACK'), { what: 'mosquitto_sub subscribed', timeoutMs: 10_000 })
      const lamp = await device('lamp-001')
      const ts = Date.now() - 500
      await lamp.publishAsync('devices/lamp-001/telemetry', JSON.stringify([{ ts, commandedLevel: 50, supplyVoltage: 230, activePower: 11 }, { ts: ts + 1, commandedLevel: 50, supplyVoltage: 230, activePower: 12 }]), { qos: 1 })
      expect(await exited).toBe(0)
    } finally {
      sub.kill()
    }
    const payloads = out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Json)
    expect(payloads.map((p) => p.result)).toEqual([11, 12])
  })

  it('lets nobody publish on v1.1/: the connection is closed', async () => {
    for (const client of [await crew('crew-all'), await device('lamp-001')]) {
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
      client.publish('v1.1/Observations', JSON.stringify({ result: 1 }), { qos: 1 })
      await closed
    }
  })
})
