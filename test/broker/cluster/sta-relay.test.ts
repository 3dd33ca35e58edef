// The SensorThings relay between two nodes on a real nats-server, with stand-in feeds: nothing is
// published until the other node announces subscribers; then its feed gets this node's readings
// (never its own back), stops getting them once it says it has none, and ignores malformed messages.
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { getKind } from '../../../devices/index.ts'
import { STA_OBSERVATIONS_SUBJECT } from '../../../broker/cluster/names.ts'
import { startStaRelay, type StaRelay } from '../../../broker/cluster/sta-relay.ts'
import type { DeviceIdentity } from '../../../broker/mqtt/authenticate.ts'
import type { ObservedDevice, ObservedReading } from '../../../broker/sta/mqtt-feed.ts'
import { startNatsCluster, type NatsCluster } from '../../helpers/nats.ts'
import { eventually } from '../../helpers/wait.ts'

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })
let nats: NatsCluster | undefined
const connections: NatsConnection[] = []
const relays: StaRelay[] = []

beforeAll(async () => {
  nats = await startNatsCluster({ nodes: 1 })
}, 60_000)
afterAll(async () => {
  for (const relay of relays) await relay.close()
  for (const nc of connections) await nc.close()
  await nats?.close()
}, 30_000)

function standInFeed () {
  let listener: ((isInterested: boolean) => void) | undefined
  const feed = {
    subscribers: 0,
    relayed: [] as { device: ObservedDevice, readings: readonly ObservedReading[] }[],
    relay (device: ObservedDevice, readings: readonly ObservedReading[]) { feed.relayed.push({ device, readings }) },
    onInterestChange (l: (isInterested: boolean) => void) { listener = l },
    subscriptions () { return feed.subscribers },
    /** As the real feed: the first subscriber and the last one leaving are announced. */
    setSubscribers (n: number) {
      const was = feed.subscribers
      feed.subscribers = n
      if (was === 0 && n > 0) listener?.(true)
      if (was > 0 && n === 0) listener?.(false)
    },
  }
  return feed
}

async function node (name: string) {
  const nc = await connect({ servers: [...nats!.urls] })
  connections.push(nc)
  const feed = standInFeed()
  const relay = startStaRelay({ nc, nodeName: name, feed, log })
  relays.push(relay)
  return { nc, feed, relay }
}

const device = { role: 'device', id: 'lp-1', district: 'north', kind: getKind('lamp-post')! } as unknown as DeviceIdentity
const readings = [{ index: 0, tsMs: 1_700_000_000_000, tsGiven: true, values: { activePower: 12.5, lampFailure: false } }]

it('relays readings only while another node has subscribers, and never back to their own node', async () => {
  const a = await node('a')
  const b = await node('b')
  const watcher = await connect({ servers: [...nats!.urls] })
  connections.push(watcher)
  const seen: string[] = []
  watcher.subscribe(STA_OBSERVATIONS_SUBJECT, { callback: (_err, msg) => { seen.push(msg.string()) } })
  await watcher.flush()

  a.relay.onReadings(device, readings)
  await a.nc.flush()
  await watcher.flush()
  expect(seen).toEqual([])
  expect(a.relay.interestedNodes()).toBe(0)

  b.feed.setSubscribers(1)
  await eventually(() => a.relay.interestedNodes(), (n) => n === 1, { what: 'a knows b\'s interest', timeoutMs: 5000 })
  expect(b.relay.interestedNodes()).toBe(0)
  a.relay.onReadings(device, readings)
  await eventually(() => b.feed.relayed.length, (n) => n === 1, { what: 'b\'s feed got a\'s reading', timeoutMs: 5000 })
  expect(b.feed.relayed[0]?.device).toEqual({ id: 'lp-1', district: 'north', kind: 'lamp-post' })
  expect(b.feed.relayed[0]?.readings).toEqual([{ tsMs: 1_700_000_000_000, resultMs: expect.any(Number) as number, values: { activePower: 12.5, lampFailure: false } }])
  expect(a.feed.relayed).toEqual([])

  // Malformed or oversized messages are dropped.
  watcher.publish(STA_OBSERVATIONS_SUBJECT, '{"writer":"x","device":{"id":"../etc","district":"n","kind":"k"},"readings":[]}')
  watcher.publish(STA_OBSERVATIONS_SUBJECT, 'not json')
  watcher.publish(STA_OBSERVATIONS_SUBJECT, JSON.stringify({ writer: 'x', device: { id: 'lp-2', district: 'n', kind: 'lamp-post' }, readings: [{ tsMs: 1, resultMs: 1, values: { f: 'x'.repeat(300_000) } }] }))
  await watcher.flush()
  await b.nc.flush()

  // A node started later learns of b's interest too (b answers its hello, or renews).
  const c = await node('c')
  await eventually(() => c.relay.interestedNodes(), (n) => n === 1, { what: 'c knows b\'s interest', timeoutMs: 5000 })

  b.feed.setSubscribers(0)
  await eventually(() => a.relay.interestedNodes(), (n) => n === 0, { what: 'a forgets b\'s interest', timeoutMs: 5000 })
  const count = seen.length
  a.relay.onReadings(device, readings)
  await a.nc.flush()
  await watcher.flush()
  expect(seen.length).toBe(count)
  expect(b.feed.relayed).toHaveLength(1)
}, 30_000)
