// Protocol corners answered as MQTT 3.1.1 says, over raw connections: a CONNECT with a protocol
// level the broker does not speak gets CONNACK 0x01 [MQTT-3.1.2-2]; a QoS 1 PUBLISH with packet
// identifier 0 closes the connection unacknowledged [MQTT-2.3.1-1]; a QoS 2 reading retransmitted
// before PUBREL is stored once [MQTT-4.3.3-2]; MQTT 3.1 ("MQIsdp", level 3) still connects.
import mqttPacket from 'mqtt-packet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectClient, connectOutcome } from '../helpers/mqtt.ts'
import { connectPacket, openWire, type WireClient } from '../helpers/mqtt-wire.ts'
import { eventually } from '../helpers/wait.ts'

const CONNACK_UNACCEPTABLE_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01])
const wires: WireClient[] = []

async function metric (gw: TestGateway, pattern: RegExp): Promise<number> {
  return Number(pattern.exec(await (await fetch(`${gw.httpUrl}/metrics`)).text())?.[1] ?? 0)
}

describe('MQTT protocol corners', () => {
  let gw: TestGateway
  let secret: string

  beforeAll(async () => {
    gw = await startTestGateway()
    secret = (await registerDevice(gw.dataDir, 'mh-1', 'manhole')).secret
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => {
    for (const wire of wires) wire.destroy()
    await gw?.close(true)
  })

  async function wire (): Promise<WireClient> {
    const opened = await openWire(gw.gateway.ports.mqtt)
    wires.push(opened)
    return opened
  }

  async function connected (): Promise<WireClient> {
    const device = await wire()
    device.send(connectPacket('mh-1', 'mh-1', secret))
    expect(await device.next('connack')).toMatchObject({ returnCode: 0 })
    return device
  }

  it.each([
    ['MQTT 5', { protocolId: 'MQTT', protocolVersion: 5 }],
    ['level 3 named "MQTT"', { protocolId: 'MQTT', protocolVersion: 3 }],
    ['level 4 named "MQIsdp"', { protocolId: 'MQIsdp', protocolVersion: 4 }],
  ] as const)('answers a CONNECT of %s with CONNACK 0x01 and closes', async (_name, version) => {
    const client = await wire()
    client.send(mqttPacket.generate({ ...connectPacket('mh-1', 'mh-1', secret), ...version }, { protocolVersion: version.protocolVersion }))
    await client.closed
    expect(Buffer.concat(client.bytes)).toEqual(CONNACK_UNACCEPTABLE_PROTOCOL)
  })

  it('answers level 99, sent a byte at a time, with CONNACK 0x01', async () => {
    const bytes = mqttPacket.generate(connectPacket('mh-1', 'mh-1', secret))
    bytes[8] = 99 // the level byte: 1 type + 1 length + 2 + "MQTT"
    const client = await wire()
    for (const byte of bytes) {
      client.send(Buffer.from([byte]))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await client.closed
    expect(Buffer.concat(client.bytes)).toEqual(CONNACK_UNACCEPTABLE_PROTOCOL)
    expect(await metric(gw, /^citygw_protocol_errors_total\{reason="unacceptable_protocol"\} (\d+)/m)).toBe(4)
  })

  it('lets an MQTT 3.1 client ("MQIsdp", level 3) connect', async () => {
    const client = await wire()
    client.send(connectPacket('mh-1', 'mh-1', secret, { protocolId: 'MQIsdp', protocolVersion: 3 }))
    expect(await client.next('connack')).toMatchObject({ returnCode: 0 })
  })

  it('closes a connection sending a QoS 1 PUBLISH with packet identifier 0, unacknowledged and unstored', async () => {
    const device = await connected()
    const readingsBefore = await metric(gw, /^citygw_readings_total\{outcome="accepted"\} (\d+)/m)
    const bytes = mqttPacket.generate({ cmd: 'publish', topic: 'devices/mh-1/telemetry', payload: Buffer.from('{"coverAngle":1}'), qos: 1, messageId: 1, retain: false, dup: false })
    bytes.writeUInt16BE(0, bytes.length - '{"coverAngle":1}'.length - 2) // packet identifier → 0
    device.send(bytes)
    await device.closed
    expect(device.received.filter((p) => p.cmd === 'puback')).toEqual([])
    expect(await metric(gw, /^citygw_readings_total\{outcome="accepted"\} (\d+)/m)).toBe(readingsBefore)
    expect(await metric(gw, /^citygw_protocol_errors_total\{reason="packet_id_zero"\} (\d+)/m)).toBe(1)
  })

  it('stores a QoS 2 reading once however often it is retransmitted before PUBREL, also within one chunk', async () => {
    const device = await connected()
    const readingsBefore = await metric(gw, /^citygw_readings_total\{outcome="accepted"\} (\d+)/m)
    const publish = (messageId: number, dup: boolean): Buffer => mqttPacket.generate({ cmd: 'publish', topic: 'devices/mh-1/telemetry', payload: Buffer.from('{"coverAngle":3}'), qos: 2, messageId, retain: false, dup })
    // A reading without ts: stored twice it would be two points.
    device.send(publish(7, false))
    await device.next('pubrec')
    device.send(publish(7, true))
    await device.next('pubrec')
    device.send({ cmd: 'pubrel', messageId: 7 })
    await device.next('pubcomp')
    // The original and its retransmission in one TCP chunk.
    device.send(Buffer.concat([publish(8, false), publish(8, true)]))
    await device.next('pubrec')
    await device.next('pubrec')
    device.send({ cmd: 'pubrel', messageId: 8 })
    await device.next('pubcomp')
    // After PUBCOMP the identifier is free again: a new message under it is stored.
    device.send(publish(7, false))
    await device.next('pubrec')
    device.send({ cmd: 'pubrel', messageId: 7 })
    await device.next('pubcomp')
    const stored = await eventually(() => metric(gw, /^citygw_readings_total\{outcome="accepted"\} (\d+)/m), (n) => n >= readingsBefore + 3, { what: 'three readings' })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await metric(gw, /^citygw_readings_total\{outcome="accepted"\} (\d+)/m)).toBe(stored)
    expect(stored - readingsBefore).toBe(3)
  })

  it('takes a device\'s QoS 1 will on its own status topic when the connection drops, and refuses a will elsewhere', async () => {
    const deniedBefore = await metric(gw, /^citygw_acl_denials_total\{action="publish"\} (\d+)/m)
    const warnings = (): number => gw.logs().filter((l) => l.deviceId === 'mh-1' && Number(l.level) >= 40).length
    const warningsBefore = warnings()
    const device = await connectClient(gw.mqttUrl, { clientId: 'mh-1', username: 'mh-1', password: secret, will: { topic: 'devices/mh-1/status', payload: Buffer.from('{"online":false}'), qos: 1, retain: false } })
    device.stream.destroy()
    await new Promise((resolve) => setTimeout(resolve, 300))
    // The will went through the device's own publish path: no refusal, no protocol error.
    expect(warnings()).toBe(warningsBefore)
    expect(await metric(gw, /^citygw_acl_denials_total\{action="publish"\} (\d+)/m)).toBe(deniedBefore)
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'mh-1', username: 'mh-1', password: secret, will: { topic: 'devices/other/status', payload: Buffer.from('x'), qos: 0, retain: false } })).toMatch(/Not authorized/i)
  })
})
