// What a crew publishes is consumed by the gateway like telemetry: an acknowledgement is applied
// (or ignored) and never routed to another client, never retained, never stored as anything but
// the acknowledged alarm; wills on acknowledgement topics are refused at CONNECT; a crew may not
// use a device's client id nor resume another account's persistent session.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, connectDevice, connectOutcome } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

const clients: MqttClient[] = []
const ACK = 'alarms/north/lamp-post/lp-1/doorOpen/ack'

async function metric (gw: TestGateway, pattern: RegExp): Promise<number> {
  return Number(pattern.exec(await (await fetch(`${gw.httpUrl}/metrics`)).text())?.[1] ?? 0)
}

describe('a crew cannot make any other client receive or store anything', () => {
  let gw: TestGateway
  let secrets: Record<'lamp' | 'attacker' | 'observer', string>

  beforeAll(async () => {
    gw = await startTestGateway({ env: { MQTT_MAX_SESSIONS_PER_CREW: '3' } })
    secrets = {
      lamp: (await registerDevice(gw.dataDir, 'lp-1', 'lamp-post', 'north')).secret,
      attacker: (await registerCrew(gw.dataDir, 'crew-x')).secret,
      observer: (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret,
    }
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
  })

  async function crew (name: 'attacker' | 'observer', clientId: string, extra: Parameters<typeof connectClient>[1] = {}): Promise<MqttClient> {
    const client = await connectClient(gw.mqttUrl, { clientId, username: name === 'attacker' ? 'crew-x' : 'crew-north', password: secrets[name], ...extra })
    clients.push(client)
    return client
  }

  it('consumes retained, oversized and unmatched acknowledgements without routing or keeping them', async () => {
    const observer = await crew('observer', 'observer-phone')
    const seen = await collect(observer, 'alarms/north/#')
    const attacker = await crew('attacker', 'attacker-phone')
    const spoolBefore = await metric(gw, /^citygw_spool_depth_records (\d+)/m)

    await attacker.publishAsync(ACK, JSON.stringify({ note: 'x'.repeat(400) }), { qos: 1, retain: true })
    await attacker.publishAsync(ACK, Buffer.alloc(200 * 1024, 0x61), { qos: 1, retain: true })
    await attacker.publishAsync(ACK, 'not json', { qos: 0, retain: true })
    expect(attacker.connected).toBe(true)

    // Nothing reached the observer, nothing is retained for a later subscriber, nothing was stored.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(seen.messages).toEqual([])
    const late = await crew('observer', 'late-phone')
    const lateSeen = await collect(late, 'alarms/north/#')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(lateSeen.messages).toEqual([])
    expect(await metric(gw, /^citygw_spool_depth_records (\d+)/m)).toBe(spoolBefore)
    expect(await metric(gw, /^citygw_limits_exceeded_total\{limit="ack_size"\} (\d+)/m)).toBe(1)
    // Two ignored (no open alarm, not JSON), one oversized: one line each kind per period.
    expect(gw.logs().filter((l) => l.msg === 'acknowledgement ignored')).toHaveLength(2)
  })

  it('applies a real acknowledgement: the observer sees the acknowledged alarm, not the ack message', async () => {
    const observer = await crew('observer', 'observer-2')
    const seen = await collect(observer, 'alarms/north/#')
    const lamp = await connectDevice(gw.mqttUrl, 'lp-1', secrets.lamp)
    clients.push(lamp)
    await lamp.publishAsync('devices/lp-1/telemetry', JSON.stringify({ commandedLevel: 50, supplyVoltage: 230, activePower: 40, doorOpen: true }), { qos: 1 })
    await seen.waitFor(1)
    const attacker = await crew('attacker', 'attacker-2')
    await attacker.publishAsync(ACK, JSON.stringify({ note: 'on site' }), { qos: 1, retain: true })
    await seen.waitFor(2)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(seen.messages.map((m) => m.topic)).toEqual(['alarms/north/lamp-post/lp-1/doorOpen', 'alarms/north/lamp-post/lp-1/doorOpen'])
    expect(seen.json(1)).toMatchObject({ state: 'acknowledged', ackedBy: 'crew-x', ackNote: 'on site' })
  })

  it('refuses at CONNECT a will on an acknowledgement topic, a device\'s client id, and another account\'s session', async () => {
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'will-phone', username: 'crew-x', password: secrets.attacker, will: { topic: ACK, payload: Buffer.from('{}'), qos: 1, retain: true } })).toMatch(/Not authorized/i)
    expect(await metric(gw, /^citygw_acl_denials_total\{action="will"\} (\d+)/m)).toBe(1)
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'lp-1', username: 'crew-x', password: secrets.attacker })).toMatch(/Identifier rejected/i)
    // The observer's persistent session may not be resumed by another account.
    const phone = await crew('observer', 'north-tablet', { clean: false })
    await phone.subscribeAsync('alarms/north/#', { qos: 1 })
    await phone.endAsync()
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'north-tablet', username: 'crew-x', password: secrets.attacker, clean: false })).toMatch(/Identifier rejected/i)
    expect(gw.logs().some((l) => l.msg === 'connection refused' && l.reason === 'will_forbidden')).toBe(true)
  })

  it('closes a crew publishing anywhere but an acknowledgement topic, and stores nothing', async () => {
    for (const topic of ['devices/lp-1/telemetry', 'alarms/north/lamp-post/lp-1/doorOpen', 'alarms/north/lamp-post/lp-1/doorOpen/ack/x']) {
      const attacker = await crew('attacker', `attacker-${topic.length}`)
      const closed = new Promise<void>((resolve) => { attacker.once('close', () => { resolve() }) })
      attacker.publish(topic, '{"coverAngle":1}', { qos: 1 })
      await closed
    }
    await eventually(() => metric(gw, /^citygw_acl_denials_total\{action="publish"\} (\d+)/m), (n) => n >= 3, { what: 'three refused publishes' })
  })
})
