// Persistent sessions (clean = false) of crew phones: one account keeps at most
// MQTT_MAX_SESSIONS_PER_CREW of them (a new one replaces the least recently connected absent one;
// when all are connected it is refused); a phone that was away gets each alarm's current state
// once, not every change it missed; and a session's queue is capped at MQTT_MAX_QUEUED_MESSAGES.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { REPO_ROOT, registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectClient, connectDevice, connectOutcome } from '../helpers/mqtt.ts'

const clients: MqttClient[] = []

async function limitCount (gw: TestGateway, limit: string): Promise<number> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text()
  return Number(new RegExp(`^citygw_limits_exceeded_total\\{limit="${limit}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
}

/** Messages a resumed session receives within a short while after CONNACK. */
async function resumeAndCollect (gw: TestGateway, clientId: string, secret: string): Promise<{ topic: string; state: string }[]> {
  const received: { topic: string; state: string }[] = []
  const phone = await connectClient(gw.mqttUrl, { clientId, username: 'crew-north', password: secret, clean: false })
  clients.push(phone)
  phone.on('message', (topic, payload) => { received.push({ topic, state: (JSON.parse(payload.toString()) as { state: string }).state }) })
  await new Promise((resolve) => setTimeout(resolve, 500))
  await phone.endAsync()
  return received
}

describe('persistent crew sessions', () => {
  let gw: TestGateway
  let crewSecret: string
  let lamps: MqttClient[]

  beforeAll(async () => {
    // Doors opened and closed many times on purpose: flapping alarms are not held open here.
    gw = await startTestGateway({ env: { ALARM_RULES_FILE: join(REPO_ROOT, 'test/e2e/fixtures/no-flapping.yaml'), MQTT_MAX_SESSIONS_PER_CREW: '2', MQTT_MAX_QUEUED_MESSAGES: '5' } })
    crewSecret = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    const secrets = await Promise.all(Array.from({ length: 8 }, (_, i) => registerDevice(gw.dataDir, `lp-${i}`, 'lamp-post', 'north')))
    await gw.gateway.reloadRegistry()
    lamps = await Promise.all(secrets.map((s, i) => connectDevice(gw.mqttUrl, `lp-${i}`, s.secret)))
    clients.push(...lamps)
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
  })

  async function leaveSession (clientId: string): Promise<void> {
    const phone = await connectClient(gw.mqttUrl, { clientId, username: 'crew-north', password: crewSecret, clean: false })
    await phone.subscribeAsync('alarms/north/#', { qos: 1 })
    await phone.endAsync()
  }

  async function door (lamp: number, open: boolean, ts: number): Promise<void> {
    await lamps[lamp]!.publishAsync(`devices/lp-${lamp}/telemetry`, JSON.stringify({ ts, commandedLevel: 50, supplyVoltage: 230, activePower: 40, doorOpen: open }), { qos: 1 })
  }

  it('gives a phone that was away each alarm\'s current state once, not the 50 changes it missed', async () => {
    await leaveSession('phone-a')
    let ts = Date.now() - 60_000
    for (let i = 0; i < 50; i++) await door(0, i % 2 === 0, ts++) // ends closed: raised and cleared 25 times
    await door(1, true, ts++) // stays open
    const received = await resumeAndCollect(gw, 'phone-a', crewSecret)
    expect(received).toEqual([
      { topic: 'alarms/north/lamp-post/lp-0/doorOpen', state: 'cleared' },
      { topic: 'alarms/north/lamp-post/lp-1/doorOpen', state: 'active' },
    ])
    await door(1, false, ts)
  })

  it('keeps at most MQTT_MAX_QUEUED_MESSAGES per session, the newest', async () => {
    await leaveSession('phone-q')
    let ts = Date.now() - 30_000
    const dropsBefore = await limitCount(gw, 'queued_messages')
    for (let lamp = 0; lamp < 8; lamp++) await door(lamp, true, ts++)
    const received = await resumeAndCollect(gw, 'phone-q', crewSecret)
    expect(received.map((m) => m.topic)).toEqual([3, 4, 5, 6, 7].map((lamp) => `alarms/north/lamp-post/lp-${lamp}/doorOpen`))
    // phone-a, away too, dropped as many.
    expect(await limitCount(gw, 'queued_messages') - dropsBefore).toBe(6)
    for (let lamp = 0; lamp < 8; lamp++) await door(lamp, false, ts++)
  })

  it('replaces the least recently connected absent session, and refuses one more while all are connected', async () => {
    // phone-a and phone-q hold the account's two sessions; phone-a was connected longer ago.
    await leaveSession('phone-b')
    const b = await connectClient(gw.mqttUrl, { clientId: 'phone-b', username: 'crew-north', password: crewSecret, clean: false })
    const q = await connectClient(gw.mqttUrl, { clientId: 'phone-q', username: 'crew-north', password: crewSecret, clean: false })
    clients.push(b, q)
    expect(gw.logs().filter((l) => l.msg === 'persistent session replaces the crew\'s least recently connected one').map((l) => l.replacedClientId)).toEqual(['phone-a'])
    expect(q.connected && b.connected).toBe(true)
    // Both sessions are connected: a third is refused, a clean session (no queue) is let in.
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'phone-c', username: 'crew-north', password: crewSecret, clean: false })).toMatch(/Not authorized/i)
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'phone-d', username: 'crew-north', password: crewSecret, clean: true })).toBe('connected')
    expect(await limitCount(gw, 'persistent_sessions')).toBe(2)
  })
})
