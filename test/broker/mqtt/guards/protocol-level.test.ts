import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { Aedes } from 'aedes'
import fc from 'fast-check'
import mqttPacket from 'mqtt-packet'
import { connectAsync } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { CONNACK_UNACCEPTABLE_PROTOCOL, ConnectPreflight, guardProtocolLevel, type PreflightVerdict } from '../../../../broker/mqtt/guards/protocol-level.ts'

interface ConnectOptions { protocolId: 'MQTT' | 'MQIsdp'; protocolVersion: 3 | 4 | 5; clientId?: string; username?: string; password?: Buffer; will?: boolean }

function connectPacket (options: ConnectOptions): Buffer {
  const { protocolId, protocolVersion, clientId = 'lamp-1', username, password, will = false } = options
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId,
    protocolVersion,
    clientId,
    clean: true,
    keepalive: 30,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(will ? { will: { topic: 'devices/lamp-1/status', payload: Buffer.from('offline'), qos: 1, retain: false } } : {}),
    // A real MQTT 5 CONNECT carries properties.
    ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 60, receiveMaximum: 10 } } : {}),
  })
}

/** Where the protocol level byte sits: after the type byte, the remaining length, the name. */
function levelIndex (packet: Buffer): number {
  let at = 1
  while (((packet[at] as number) & 0x80) !== 0) at++
  at++
  return at + 2 + packet.readUInt16BE(at)
}

function withLevel (packet: Buffer, level: number): Buffer {
  const patched = Buffer.from(packet)
  patched[levelIndex(patched)] = level
  return patched
}

function judgeWhole (bytes: Buffer): PreflightVerdict {
  return new ConnectPreflight().feed(bytes)
}

const mqtt4 = connectPacket({ protocolId: 'MQTT', protocolVersion: 4 })
const mqisdp3 = connectPacket({ protocolId: 'MQIsdp', protocolVersion: 3 })
const mqtt5 = connectPacket({ protocolId: 'MQTT', protocolVersion: 5 })
const mqtt3 = connectPacket({ protocolId: 'MQTT', protocolVersion: 3 })
const mqisdp4 = connectPacket({ protocolId: 'MQIsdp', protocolVersion: 4 })
const level99 = withLevel(mqtt4, 99)

describe('ConnectPreflight', () => {
  it('passes MQTT 3.1.1 ("MQTT", 4) and MQTT 3.1 ("MQIsdp", 3)', () => {
    expect(judgeWhole(mqtt4)).toBe('pass')
    expect(judgeWhole(mqisdp3)).toBe('pass')
    expect(judgeWhole(connectPacket({ protocolId: 'MQTT', protocolVersion: 4, clientId: 'x'.repeat(300), username: 'crew-a', password: Buffer.from('secret'), will: true }))).toBe('pass')
  })

  it('refuses a level this broker does not speak, or one that does not match the protocol name', () => {
    expect(mqtt5[levelIndex(mqtt5)]).toBe(5)
    for (const packet of [mqtt5, mqtt3, mqisdp4, level99, withLevel(mqisdp3, 99), withLevel(mqtt4, 0)]) {
      expect(judgeWhole(packet)).toBe('unacceptable_protocol')
    }
  })

  it('reads the level without the bridge bit', () => {
    expect(judgeWhole(withLevel(mqtt4, 0x80 | 4))).toBe('pass')
    expect(judgeWhole(withLevel(mqisdp3, 0x80 | 3))).toBe('pass')
    expect(judgeWhole(withLevel(mqtt4, 0x80 | 5))).toBe('unacceptable_protocol')
  })

  it('passes any first packet that is not a CONNECT, and protocol names it does not know, to the parser', () => {
    expect(judgeWhole(mqttPacket.generate({ cmd: 'pingreq' }))).toBe('pass')
    expect(judgeWhole(mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }))).toBe('pass')
    expect(judgeWhole(Buffer.from([0xff]))).toBe('pass')
    // "MQTS": the right length, an unknown name.
    const mqts = Buffer.from(mqtt4)
    mqts.write('MQTS', levelIndex(mqts) - 4, 'latin1')
    expect(judgeWhole(mqts)).toBe('pass')
    // A name of another length ("MQ").
    expect(judgeWhole(Buffer.from([0x10, 0x0a, 0x00, 0x02, 0x4d, 0x51, 0x05, 0x02, 0x00, 0x1e, 0x00, 0x00]))).toBe('pass')
    // A remaining length of five bytes is malformed: the parser's to refuse.
    expect(judgeWhole(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x04]))).toBe('pass')
  })

  it('stays undecided on no bytes and on a CONNECT cut before its level byte', () => {
    const preflight = new ConnectPreflight()
    expect(preflight.feed(Buffer.alloc(0))).toBe('undecided')
    expect(preflight.feed(mqtt5.subarray(0, levelIndex(mqtt5)))).toBe('undecided')
    expect(preflight.verdict).toBe('undecided')
    expect(preflight.feed(mqtt5.subarray(levelIndex(mqtt5)))).toBe('unacceptable_protocol')
  })

  it('decides once: later bytes, even another CONNECT, do not change the verdict', () => {
    const refused = new ConnectPreflight()
    expect(refused.feed(mqtt5)).toBe('unacceptable_protocol')
    expect(refused.feed(mqtt4)).toBe('unacceptable_protocol')
    const passed = new ConnectPreflight()
    expect(passed.feed(mqtt4)).toBe('pass')
    expect(passed.feed(mqtt5)).toBe('pass')
    expect(passed.verdict).toBe('pass')
  })

  it('fed byte by byte, decides exactly at the level byte (CONNECT) or the first byte (anything else)', () => {
    for (const packet of [mqtt4, mqisdp3, mqtt5, level99, connectPacket({ protocolId: 'MQTT', protocolVersion: 4, clientId: 'y'.repeat(200) })]) {
      const preflight = new ConnectPreflight()
      const verdicts = [...packet].map((byte) => preflight.feed(Buffer.from([byte])))
      const decidedAt = verdicts.findIndex((v) => v !== 'undecided')
      expect(decidedAt).toBe(levelIndex(packet))
      expect(new Set(verdicts.slice(decidedAt))).toEqual(new Set([judgeWhole(packet)]))
    }
    const ping = new ConnectPreflight()
    expect(ping.feed(Buffer.from([0xc0]))).toBe('pass')
  })

  const connectArb = fc.record({
    protocol: fc.constantFrom<[ConnectOptions['protocolId'], ConnectOptions['protocolVersion']]>(['MQTT', 4], ['MQIsdp', 3], ['MQTT', 5], ['MQTT', 3], ['MQIsdp', 4]),
    clientId: fc.string({ minLength: 1, maxLength: 300 }),
    username: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
    will: fc.boolean(),
    level: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    then: fc.constantFrom(Buffer.alloc(0), mqttPacket.generate({ cmd: 'pingreq' }), mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alarms/#', qos: 1 }] })),
  }).map(({ protocol: [protocolId, protocolVersion], clientId, username, will, level, then }) => {
    const packet = connectPacket({ protocolId, protocolVersion, clientId, ...(username === undefined ? {} : { username }), will })
    return Buffer.concat([level === undefined ? packet : withLevel(packet, level), then])
  })
  const firstBytesArb = fc.oneof(
    { weight: 4, arbitrary: connectArb },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes)) },
  )

  it('gives the same verdict however the first bytes are cut into chunks, undecided until then', () => {
    fc.assert(fc.property(firstBytesArb, fc.array(fc.nat(), { maxLength: 25 }), (bytes, rawCuts) => {
      const whole = judgeWhole(bytes)
      const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
      const preflight = new ConnectPreflight()
      const verdicts: PreflightVerdict[] = []
      let at = 0
      for (const cut of [...cuts, bytes.length]) {
        verdicts.push(preflight.feed(bytes.subarray(at, cut)))
        at = cut
      }
      const decidedAt = verdicts.findIndex((v) => v !== 'undecided')
      if (whole === 'undecided') {
        expect(decidedAt).toBe(-1)
      } else {
        expect(decidedAt).not.toBe(-1)
        expect(verdicts.slice(decidedAt).every((v) => v === whole)).toBe(true)
      }
    }), { numRuns: 1000 })
  })
})

describe('guardProtocolLevel on a real Aedes broker', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  /** Aedes behind a TCP server on 127.0.0.1, each connection's parser behind the preflight. */
  async function startBroker (): Promise<{ port: number; broker: Aedes; refused: string[] }> {
    const broker = await Aedes.createBroker()
    const refused: string[] = []
    const server: Server = createServer((socket) => {
      socket.on('error', () => {})
      const client = broker.handle(socket)
      guardProtocolLevel(client, socket, function unacceptable () { refused.push(socket.remotePort?.toString() ?? '') })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(async () => {
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      await new Promise<void>((resolve) => { broker.close(() => { resolve() }) })
    })
    return { port: (server.address() as AddressInfo).port, broker, refused }
  }

  /** Sends the chunks (a pause between them) and collects every byte until the broker closes. */
  async function exchange (port: number, chunks: Buffer[], timeoutMs = 5000): Promise<{ bytes: Buffer; closed: boolean }> {
    const socket: Socket = connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    socket.on('error', () => {})
    cleanups.push(() => { socket.destroy() })
    await once(socket, 'connect')
    const received: Buffer[] = []
    socket.on('data', (chunk: Buffer) => { received.push(chunk) })
    const closed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { resolve(false) }, timeoutMs)
      socket.once('close', () => { clearTimeout(timer); resolve(true) })
    })
    for (const chunk of chunks) {
      socket.write(chunk)
      await new Promise((resolve) => { setTimeout(resolve, 20) })
    }
    return { closed: await closed, bytes: Buffer.concat(received) }
  }

  it('answers a level-5 or level-99 CONNECT with exactly CONNACK 0x01, then closes', async () => {
    const { port, refused } = await startBroker()
    expect([...CONNACK_UNACCEPTABLE_PROTOCOL]).toEqual([0x20, 0x02, 0x00, 0x01])
    for (const packet of [mqtt5, level99]) {
      const { bytes, closed } = await exchange(port, [packet])
      expect(closed).toBe(true)
      expect([...bytes]).toEqual([0x20, 0x02, 0x00, 0x01])
    }
    expect(refused).toHaveLength(2)
  })

  it('holds a CONNECT that arrives a few bytes at a time until its level is known', async () => {
    const { port, refused } = await startBroker()
    const split = levelIndex(mqtt5)
    const refusedAnswer = await exchange(port, [mqtt5.subarray(0, 3), mqtt5.subarray(3, split), mqtt5.subarray(split)])
    expect(refusedAnswer).toEqual({ closed: true, bytes: CONNACK_UNACCEPTABLE_PROTOCOL })
    expect(refused).toHaveLength(1)

    // An acceptable CONNECT cut the same way reaches Aedes whole: CONNACK 0 (accepted), and the
    // connection stays open until the client leaves.
    const socket = connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    socket.on('error', () => {})
    cleanups.push(() => { socket.destroy() })
    await once(socket, 'connect')
    const connack = once(socket, 'data') as Promise<[Buffer]>
    for (const chunk of [mqtt4.subarray(0, 3), mqtt4.subarray(3, levelIndex(mqtt4)), mqtt4.subarray(levelIndex(mqtt4))]) {
      socket.write(chunk)
      await new Promise((resolve) => { setTimeout(resolve, 20) })
    }
    const [answer] = await connack
    expect([...answer]).toEqual([0x20, 0x02, 0x00, 0x00])
    expect(socket.destroyed).toBe(false)
    expect(refused).toHaveLength(1)
  })

  // MQTT.js speaks MQTT 3.1 only when told both: protocolVersion 3 and protocolId "MQIsdp".
  for (const [protocolId, protocolVersion] of [['MQTT', 4], ['MQIsdp', 3]] as const) {
    it(`lets an MQTT.js client with protocolVersion ${protocolVersion} ("${protocolId}") connect and publish`, async () => {
      const { port, broker, refused } = await startBroker()
      const received: string[] = []
      broker.on('publish', (packet, client) => { if (client !== null && client !== undefined) received.push(`${packet.topic} ${packet.payload.toString()}`) })
      const device = await connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `lamp-v${protocolVersion}`, protocolId, protocolVersion, reconnectPeriod: 0, connectTimeout: 5000 })
      try {
        await device.publishAsync('devices/lamp-1/telemetry', '{"level":40}', { qos: 1 })
        await device.publishAsync('devices/lamp-1/telemetry', '{"level":41}', { qos: 0 })
        const deadline = Date.now() + 5000
        while (received.length < 2 && Date.now() < deadline) await new Promise((resolve) => { setTimeout(resolve, 10) })
        expect(received).toEqual(['devices/lamp-1/telemetry {"level":40}', 'devices/lamp-1/telemetry {"level":41}'])
        expect(refused).toEqual([])
      } finally {
        await device.endAsync()
      }
    })
  }

  it('refuses an MQTT.js client given protocolVersion 3 alone: it sends level 3 under the name "MQTT"', async () => {
    const { port, refused } = await startBroker()
    const attempt = connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'lamp-v3-mqtt', protocolVersion: 3, reconnectPeriod: 0, connectTimeout: 5000 })
    await expect(attempt).rejects.toMatchObject({ code: 1 })
    expect(refused).toHaveLength(1)
  })
})
