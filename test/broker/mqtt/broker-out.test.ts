// What the gateway publishes through its embedded broker reaches every subscriber, however
// retained and plain publishes interleave: Aedes drops a delivery whose broker counter is not above
// the last one the client got, so a retained publish (one async step longer inside Aedes) overtaken
// by a plain one issued in the same tick would be lost. Real Aedes, real MQTT.js subscriber.
import { once } from 'node:events'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { Aedes } from 'aedes'
import { connectAsync, type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { createBrokerOut } from '../../../broker/mqtt/broker-out.ts'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup() })

async function brokerWithSubscriber (): Promise<{ broker: Aedes; subscriber: MqttClient; received: string[]; port: number }> {
  const broker = await Aedes.createBroker()
  const server: Server = createServer((socket) => { broker.handle(socket) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => new Promise<void>((resolve) => { broker.close(() => { server.close(() => { resolve() }) }) }))
  const port = (server.address() as AddressInfo).port
  const subscriber = await connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'crew-phone', reconnectPeriod: 0 })
  cleanups.push(() => subscriber.endAsync(true))
  const received: string[] = []
  subscriber.on('message', (topic, payload) => { received.push(`${topic} ${payload.toString()}`) })
  await subscriber.subscribeAsync('alarms/#', { qos: 1 })
  return { broker, subscriber, received, port }
}

describe('broker out', () => {
  it('delivers retained and plain publishes issued in the same tick, all of them', async () => {
    const { broker, received } = await brokerWithSubscriber()
    const out = createBrokerOut(broker)
    const sent: Promise<void>[] = []
    const expected: string[] = []
    for (let i = 0; i < 50; i++) {
      // A raise (retained) of one alarm and a clear (plain) of another, back to back.
      sent.push(out.publish(`alarms/n/manhole/mh-${i}/coverOpen`, Buffer.from('active'), true))
      sent.push(out.publish(`alarms/n/manhole/mh-x${i}/coverOpen`, Buffer.from('cleared'), false))
      expected.push(`alarms/n/manhole/mh-${i}/coverOpen active`, `alarms/n/manhole/mh-x${i}/coverOpen cleared`)
    }
    await Promise.all(sent)
    await expect.poll(() => received.length, { timeout: 5000 }).toBe(expected.length)
    expect([...received].sort()).toEqual([...expected].sort())
  })

  it('keeps a retained publish for a later subscriber, and removing it leaves nothing retained', async () => {
    const { broker, port } = await brokerWithSubscriber()
    const out = createBrokerOut(broker)
    await out.publish('alarms/n/manhole/mh-1/coverOpen', Buffer.from('active'), true)
    await out.publish('alarms/n/manhole/mh-2/coverOpen', Buffer.from('active'), true)
    await out.removeRetained('alarms/n/manhole/mh-2/coverOpen')
    const late = await connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'late-phone', reconnectPeriod: 0 })
    cleanups.push(() => late.endAsync(true))
    const retained: string[] = []
    late.on('message', (topic, payload, packet) => { if (packet.retain) retained.push(`${topic} ${payload.toString()}`) })
    await late.subscribeAsync('alarms/#', { qos: 1 })
    await expect.poll(() => retained, { timeout: 2000 }).toEqual(['alarms/n/manhole/mh-1/coverOpen active'])
  })
})
