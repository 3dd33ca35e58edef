// The MQTT feed of Observations with a real Aedes: no subscription, no publish at all; counted
// subscriptions come and go with SUBSCRIBE, UNSUBSCRIBE and disconnects; each message reaches a
// scope only when it sees the device and field; subscriptions are allowed by the same scope.
import { EventEmitter } from 'node:events'
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { getKind, type DeviceKind } from '../../../devices/index.ts'
import type { ConsumerScope } from '../../../broker/consumers/scope.ts'
import type { ValidReading } from '../../../broker/ingest/validate.ts'
import { createLogger } from '../../../broker/log.ts'
import type { DeviceIdentity } from '../../../broker/mqtt/authenticate.ts'
import type { DeviceRecord } from '../../../broker/registry/schema.ts'
import { createStaFeed } from '../../../broker/sta/mqtt-feed.ts'

const log = createLogger('silent')
const devices = new Map<string, DeviceRecord>([
  ['lamp-n', { kind: 'lamp-post', district: 'north', lat: 53.55, lon: 9.99, secretHash: 's256$x', createdAt: '2026-01-01T00:00:00.000Z' }],
  ['lamp-s', { kind: 'lamp-post', district: 'south', secretHash: 's256$x', createdAt: '2026-01-01T00:00:00.000Z' }],
])
const registry = { getDevice (id: string) { return devices.get(id) }, listDevices () { return devices.entries() } }
const lampKind = getKind('lamp-post') as DeviceKind

function deviceOf (id: string): DeviceIdentity {
  const record = devices.get(id) as DeviceRecord
  return { role: 'device', id, kind: lampKind, district: record.district, location: undefined, topics: { telemetry: '', status: '', errors: '', commandsPrefix: '' }, log }
}
const reading = (values: Record<string, number | boolean>): ValidReading => ({ index: 0, tsMs: 1_764_590_400_000, tsGiven: true, values })

describe('SensorThings MQTT feed', () => {
  const brokers: Aedes[] = []
  afterEach(async () => {
    for (const b of brokers.splice(0)) await new Promise<void>((resolve) => b.close(() => resolve()))
  })

  async function setUp () {
    const broker = await Aedes.createBroker()
    brokers.push(broker)
    const publish = vi.spyOn(broker, 'publish')
    const feed = createStaFeed({ broker, registry, log, baseUrl: () => 'http://gw/sta/v1.1' })
    const client = new EventEmitter() as unknown as Client
    const subscribe = (topic: string): void => { broker.emit('subscribe', [{ topic, qos: 1 } as Subscription], client) }
    return { broker, publish, feed, client, subscribe }
  }

  it('does no work without subscriptions, and counts them as they come and go', async () => {
    const { broker, publish, feed, client, subscribe } = await setUp()
    feed.onReadings(deviceOf('lamp-n'), [reading({ activePower: 5, supplyVoltage: 230 })])
    expect(publish).not.toHaveBeenCalled()

    subscribe('v1.1/Datastreams(\'lamp-n:activePower\')/Observations')
    subscribe('devices/lamp-n/errors') // not STA: not counted
    broker.emit('subscribe', [{ topic: 'v1.1/Observations', qos: 128 }], client) // refused: not counted
    expect(feed.subscriptions()).toBe(1)
    feed.onReadings(deviceOf('lamp-n'), [reading({ activePower: 5, supplyVoltage: 230 })])
    expect(publish).toHaveBeenCalledTimes(1)
    const packet = publish.mock.calls[0]?.[0] as PublishPacket
    expect(packet.topic).toBe('v1.1/Datastreams(\'lamp-n:activePower\')/Observations')
    expect(JSON.parse(packet.payload.toString())).toMatchObject({ '@iot.id': 'lamp-n:activePower:1764590400000', result: 5, phenomenonTime: '2025-12-01T12:00:00.000Z' })

    broker.emit('unsubscribe', ['v1.1/Datastreams(\'lamp-n:activePower\')/Observations'], client)
    expect(feed.subscriptions()).toBe(0)
    subscribe('v1.1/Observations')
    expect(feed.subscriptions()).toBe(1)
    broker.emit('clientDisconnect', client)
    expect(feed.subscriptions()).toBe(0)
    publish.mockClear()
    feed.onReadings(deviceOf('lamp-n'), [reading({ activePower: 5 })])
    expect(publish).not.toHaveBeenCalled()
    feed.close()
  })

  it('lets a coarse scope subscribe to and receive only what it sees', async () => {
    const { publish, feed, subscribe } = await setUp()
    const coarse: ConsumerScope = { districts: ['north'], fields: ['activePower'], location: 'coarse' }
    expect(feed.maySubscribe(coarse, 'v1.1/Datastreams(\'lamp-n:activePower\')/Observations')).toBe(true)
    expect(feed.maySubscribe(coarse, 'v1.1/Datastreams(\'lamp-n:supplyVoltage\')/Observations')).toBe(false)
    expect(feed.maySubscribe(coarse, 'v1.1/Datastreams(\'lamp-s:activePower\')/Observations')).toBe(false)
    expect(feed.maySubscribe(coarse, 'v1.1/Observations')).toBe(true)
    expect(feed.maySubscribe(coarse, 'v1.1/#')).toBe(false)
    expect(feed.maySubscribe(undefined, 'v1.1/Datastreams(\'lamp-s:supplyVoltage\')/Observations')).toBe(true)

    subscribe('v1.1/Observations')
    feed.onReadings(deviceOf('lamp-n'), [reading({ activePower: 5, supplyVoltage: 230 })])
    feed.onReadings(deviceOf('lamp-s'), [reading({ activePower: 6 })])
    const packets = publish.mock.calls.map((call) => call[0])
    expect(packets.map((p) => (JSON.parse(p.payload.toString()) as { result: number }).result)).toEqual([5, 230, 6])
    expect(packets.map((p) => feed.mayDeliver(coarse, p))).toEqual([true, false, false])
    expect(packets.map((p) => feed.mayDeliver(undefined, p))).toEqual([true, true, true])
    // A message the feed did not publish is never delivered on an STA topic.
    expect(feed.mayDeliver(undefined, { cmd: 'publish', topic: 'v1.1/Observations', payload: Buffer.from('{}'), qos: 0, retain: false, dup: false })).toBe(false)
    feed.close()
  })
})
