// Crew phones that stop reading (raw MQTT connections subscribed to their district's alarms, paused after their
// SUBACK) while a lamp post flaps its door alarm tens of thousands of times (flapping alarms not held
// open: rules file test/e2e/fixtures/no-flapping.yaml): the healthy crew still
// gets every change at once, the stalled ones are disconnected once their unsent bytes pass the
// cap (counted and logged), and the gateway's memory does not grow with what they left unread.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { REPO_ROOT, registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectClient, connectDevice } from '../helpers/mqtt.ts'
import { connectPacket, openWire, type WireClient } from '../helpers/mqtt-wire.ts'
import { eventually } from '../helpers/wait.ts'

const BUFFER_CAP = 64 * 1024
const STALLED = 10
/** Alarm changes: ~650 bytes each on the wire, ~26 MB per crew; a paused loopback socket's kernel buffers take ~4 MB. */
const MESSAGES = 400
const READINGS_PER_MESSAGE = 100

async function metricsText (gw: TestGateway): Promise<string> {
  return (await fetch(`${gw.httpUrl}/metrics`)).text()
}

function counter (text: string, name: string, labels: string): number {
  return Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
}

describe('crews that do not read', () => {
  let gw: TestGateway
  let lamp: MqttClient | undefined
  let healthy: MqttClient | undefined
  const stalled: WireClient[] = []

  beforeAll(async () => {
    gw = await startTestGateway({ env: { LOG_LEVEL: 'warn', ALARM_RULES_FILE: join(REPO_ROOT, 'test/e2e/fixtures/no-flapping.yaml'), MQTT_CLIENT_BUFFER_BYTES: String(BUFFER_CAP), MQTT_WRITE_STALL_SEC: '2' } })
    const crew = await registerCrew(gw.dataDir, 'crew-north', ['north'])
    const lampSecret = (await registerDevice(gw.dataDir, 'lp-1', 'lamp-post', 'north')).secret
    await gw.gateway.reloadRegistry()
    for (let i = 0; i < STALLED; i++) {
      const wire = await openWire(gw.gateway.ports.mqtt)
      wire.send(connectPacket(`stalled-${i}`, 'crew-north', crew.secret))
      expect((await wire.next('connack')) as { returnCode: number }).toMatchObject({ returnCode: 0 })
      wire.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alarms/north/#', qos: 1 }] })
      expect((await wire.next('suback')) as { granted: number[] }).toMatchObject({ granted: [1] })
      wire.stopReading()
      stalled.push(wire)
    }
    healthy = await connectClient(gw.mqttUrl, { clientId: 'phone-ok', username: 'crew-north', password: crew.secret })
    await healthy.subscribeAsync('alarms/north/#', { qos: 1 })
    lamp = await connectDevice(gw.mqttUrl, 'lp-1', lampSecret)
  })
  afterAll(async () => {
    for (const wire of stalled) wire.destroy()
    await healthy?.endAsync(true)
    await lamp?.endAsync(true)
    await gw?.close(true)
  })

  it('delivers every change to the healthy crew at once and disconnects the stalled ones', async () => {
    let received = 0
    let lastAtMs = 0
    healthy!.on('message', () => { received++; lastAtMs = Date.now() })
    const before = process.memoryUsage().rss
    let peakRss = before
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss) }, 20)
    const lagsAfterAck: number[] = []
    // 40,000 readings 1 ms apart, ending before now and within the clock-skew limit (2 min): a
    // backdated series sent at a steady pace would look like a wrong device clock.
    let ts = Date.now() - 60_000
    try {
      for (let m = 0; m < MESSAGES; m++) {
        const readings = Array.from({ length: READINGS_PER_MESSAGE }, (_, i) => ({ ts: ts++, commandedLevel: 50, supplyVoltage: 230, activePower: 40, doorOpen: i % 2 === 0 }))
        await lamp!.publishAsync('devices/lp-1/telemetry', JSON.stringify(readings), { qos: 1 })
        const ackedAt = Date.now()
        const expected = (m + 1) * READINGS_PER_MESSAGE
        await eventually(() => received, (n) => n >= expected, { timeoutMs: 5000, intervalMs: 1, what: `the alarm changes of message ${m}` })
        lagsAfterAck.push(Math.max(0, lastAtMs - ackedAt))
      }
    } finally {
      clearInterval(sampler)
    }
    const sorted = [...lagsAfterAck].sort((a, b) => a - b)
    console.info(`stalled crews: ${MESSAGES * READINGS_PER_MESSAGE} alarm changes; PUBACK → healthy crew p50 ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms; rss ${Math.round(before / 2 ** 20)} → peak ${Math.round(peakRss / 2 ** 20)} MB`)
    expect(received).toBe(MESSAGES * READINGS_PER_MESSAGE)
    // Generous for a loaded CI machine, yet far below the delay a stalled crew would add if its
    // backlog held up deliveries to the others.
    expect(sorted.at(-1)).toBeLessThan(1000)

    // Each stalled crew was cut: at the buffer cap, or (what was left) by the stall timeout.
    const cut = await eventually(async () => {
      const text = await metricsText(gw)
      return counter(text, 'citygw_limits_exceeded_total', 'limit="outgoing_buffer"') + counter(text, 'citygw_limits_exceeded_total', 'limit="write_stall"')
    }, (n) => n >= STALLED, { timeoutMs: 10_000, what: 'every stalled crew cut' })
    expect(cut).toBe(STALLED)
    // Reading again, each finds its connection closed by the gateway.
    for (const wire of stalled) wire.socket.resume()
    await Promise.all(stalled.map((wire) => wire.closed))
    expect(gw.logs().filter((l) => l.msg === 'client does not read what it is sent: disconnected').length).toBeGreaterThanOrEqual(1)
    // Without the cap the ten backlogs (~220 MB) would sit in this process.
    expect(peakRss - before).toBeLessThan(120 * 2 ** 20)
  })
})
