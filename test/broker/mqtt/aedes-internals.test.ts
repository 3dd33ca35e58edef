// The Aedes internals the gateway relies on (broker/mqtt/aedes-internals.ts), checked on a real
// Aedes: when an upgrade changes their shape, this fails before anything in the field does.
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Aedes, type Client, type PublishPacket } from 'aedes'
import { connectAsync } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { AEDES_VERSION, checkAedesVersion, installedAedesVersion, parserOf, retainedStoreOf, skipRoutingOf, wrapParse } from '../../../broker/mqtt/aedes-internals.ts'
import { isGatewayError } from '../../../broker/errors.ts'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup() })

async function listening (broker: Aedes, onClient?: (client: Client) => void): Promise<string> {
  const server = createServer((socket) => {
    const client = broker.handle(socket)
    onClient?.(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => new Promise<void>((resolve) => { broker.close(() => { server.close(() => { resolve() }) }) }))
  return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('aedes internals', () => {
  it('runs on the Aedes version they were read from, and refuses another', () => {
    expect(installedAedesVersion()).toBe(AEDES_VERSION)
    expect(() => { checkAedesVersion() }).not.toThrow()
    let refusal: unknown
    try { checkAedesVersion('1.3.0') } catch (err) { refusal = err }
    expect(isGatewayError(refusal, 'CSG_AEDES_UNSUPPORTED')).toBe(true)
    expect((refusal as Error).message).toMatch(/aedes 1\.3\.0 is installed.*written for 1\.2\.0/)
  })

  it('a client has a parser whose parse() sees every byte, with a list buffer of mqtt-packet 9\'s shape', async () => {
    const broker = await Aedes.createBroker()
    const seen: number[] = []
    const url = await listening(broker, (client) => {
      const list = parserOf(client)._list as { append?: unknown; consume?: unknown; length?: unknown }
      expect(typeof list.append).toBe('function')
      expect(typeof list.consume).toBe('function')
      expect(list.length).toBe(0)
      wrapParse(client, (parse) => (chunk) => { seen.push(chunk.length); return parse(chunk) })
    })
    const device = await connectAsync(url, { clientId: 'd1', reconnectPeriod: 0 })
    cleanups.push(() => device.endAsync(true))
    await device.publishAsync('devices/d1/telemetry', Buffer.alloc(1000), { qos: 1 })
    // CONNECT and PUBLISH went through the wrapped parse, and the broker still answered both.
    expect(seen.reduce((a, b) => a + b, 0)).toBeGreaterThan(1000)
  })

  it('routes a client\'s publish through broker.publish(packet, client, done), which can end it there', async () => {
    const broker = await Aedes.createBroker()
    const routedFrom: (string | null)[] = []
    skipRoutingOf(broker, (packet: PublishPacket) => {
      routedFrom.push(packet.topic)
      return packet.topic.endsWith('/consumed')
    })
    const url = await listening(broker)
    const subscriber = await connectAsync(url, { clientId: 's1', reconnectPeriod: 0 })
    cleanups.push(() => subscriber.endAsync(true))
    const received: string[] = []
    subscriber.on('message', (topic) => { received.push(topic) })
    await subscriber.subscribeAsync('t/#', { qos: 1 })
    await subscriber.publishAsync('t/consumed', 'x', { qos: 1 })
    await subscriber.publishAsync('t/routed', 'y', { qos: 1 })
    await expect.poll(() => received).toEqual(['t/routed'])
    expect(routedFrom).toContain('t/consumed')
  })

  it('has a persistence with storeRetained once listening', async () => {
    const broker = await Aedes.createBroker()
    const url = await listening(broker)
    await retainedStoreOf(broker).storeRetained({ cmd: 'publish', topic: 'r/1', payload: Buffer.from('kept'), qos: 1, retain: true })
    const late = await connectAsync(url, { clientId: 'late', reconnectPeriod: 0 })
    cleanups.push(() => late.endAsync(true))
    const retained: string[] = []
    late.on('message', (topic, payload, packet) => { if (packet.retain) retained.push(`${topic} ${payload.toString()}`) })
    await late.subscribeAsync('r/#', { qos: 1 })
    await expect.poll(() => retained).toEqual(['r/1 kept'])
  })
})
