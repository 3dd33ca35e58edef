import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Aedes, type Client } from 'aedes'
import fc from 'fast-check'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { connectAsync } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { lightenParserBuffer } from '../../../broker/mqtt/parser-buffer.ts'

/** Packets as a parser emits them, fed the bytes in the given chunks. */
function parseAll (bytes: Buffer, cuts: number[], swap: boolean): Packet[] {
  const parser = mqttPacket.parser()
  if (swap) {
    // The same swap lightenParserBuffer makes on an Aedes client, here on a bare parser.
    const fakeClient = { _parser: parser } as unknown as Client
    expect(lightenParserBuffer(fakeClient)).toBe(true)
  }
  const packets: Packet[] = []
  parser.on('packet', (packet: Packet) => { packets.push(packet) })
  let at = 0
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    parser.parse(bytes.subarray(at, Math.max(at, cut)))
    at = Math.max(at, cut)
  }
  parser.parse(bytes.subarray(at))
  return packets
}

const packetArb = fc.oneof(
  fc.record({ topic: fc.string({ minLength: 1, maxLength: 40 }).filter((t) => !t.includes('#') && !t.includes('+') && !t.includes(String.fromCharCode(0))), payload: fc.uint8Array({ maxLength: 3000 }), qos: fc.constantFrom<0 | 1>(0, 1) })
    .map(({ topic, payload, qos }) => mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, ...(qos === 0 ? {} : { messageId: 7 }), retain: false, dup: false })),
  fc.constant(mqttPacket.generate({ cmd: 'pingreq' })),
  fc.integer({ min: 1, max: 65535 }).map((messageId) => mqttPacket.generate({ cmd: 'puback', messageId })),
)

describe('lightenParserBuffer', () => {
  it('parses every stream of packets, however it is cut into chunks, exactly as the stream-backed buffer does', () => {
    fc.assert(fc.property(fc.array(packetArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (packets, rawCuts) => {
      const bytes = Buffer.concat(packets)
      const cuts = rawCuts.map((c) => c % (bytes.length + 1))
      const lightened = parseAll(bytes, cuts, true)
      expect(lightened).toHaveLength(packets.length)
      expect(lightened).toEqual(parseAll(bytes, cuts, false))
    }), { numRuns: 300 })
  })

  it('lightens a real Aedes connection, which still receives what an MQTT.js device publishes', async () => {
    const broker = await Aedes.createBroker()
    const swapped: boolean[] = []
    const server = createServer((socket) => { swapped.push(lightenParserBuffer(broker.handle(socket))) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const received: Buffer[] = []
    broker.on('publish', (packet, client) => { if (client !== null && client !== undefined) received.push(Buffer.from(packet.payload)) })
    const device = await connectAsync(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { clientId: 'lamp-1', reconnectPeriod: 0 })
    try {
      // A body larger than one socket read, so the parser has to buffer across chunks.
      const payloads = [Buffer.from('{"level":40}'), Buffer.alloc(300_000, 0x61), Buffer.from('{"level":41}')]
      for (const payload of payloads) await device.publishAsync('devices/lamp-1/telemetry', payload, { qos: 1 })
      expect(swapped).toEqual([true])
      expect(received).toEqual(payloads)
    } finally {
      await device.endAsync()
      server.close()
      await new Promise<void>((resolve) => { broker.close(() => { resolve() }) })
    }
  })

  it('leaves a parser alone once it holds bytes, or when it is already lightened', () => {
    const parser = mqttPacket.parser()
    parser.parse(Buffer.from([0x30, 0x10, 0x00]))
    expect(lightenParserBuffer({ _parser: parser } as unknown as Client)).toBe(false)
    const fresh = mqttPacket.parser()
    expect(lightenParserBuffer({ _parser: fresh } as unknown as Client)).toBe(true)
    expect(lightenParserBuffer({ _parser: fresh } as unknown as Client)).toBe(false)
  })
})
