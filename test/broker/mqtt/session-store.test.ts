import { execFile } from 'node:child_process'
import type { Readable } from 'node:stream'
import type { Client } from 'aedes'
import aedesPacket, { type AedesPacket } from 'aedes-packet'
import { describe, expect, it } from 'vitest'
import { SessionStore, type QueueDrop } from '../../../broker/mqtt/session-store.ts'

// The module is Aedes' packet constructor: (packet, broker) gives it the broker's id and counter.
const Packet = aedesPacket as unknown as new (packet: Partial<AedesPacket>, broker: { id: string; counter: number }) => AedesPacket

/** What the store queues: a PUBLISH with the broker's id and counter. */
type Published = AedesPacket & { topic: string; payload: Buffer; messageId?: number }

const BROKER = { id: 'broker-1', counter: 0 }

function publish (topic: string, payload: string): AedesPacket {
  return new Packet({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false }, BROKER)
}

function store (options: { maxQueuedPerClient?: number; connected?: Set<string> } = {}): { store: SessionStore; connected: Set<string>; drops: [string, QueueDrop][] } {
  const connected = options.connected ?? new Set<string>()
  const drops: [string, QueueDrop][] = []
  const sessionStore = new SessionStore({
    maxQueuedPerClient: options.maxQueuedPerClient ?? 100,
    isConnected: (clientId) => connected.has(clientId),
    isStateTopic: (topic) => topic.startsWith('alarms/'),
    onDropped: (clientId, reason) => { drops.push([clientId, reason]) },
  })
  return { store: sessionStore, connected, drops }
}

function client (id: string): Client {
  return { id } as Client
}

async function queued (stream: Readable): Promise<Published[]> {
  const packets: Published[] = []
  for await (const packet of stream) packets.push(packet as Published)
  return packets
}

async function payloadsFor (sessionStore: SessionStore, clientId: string): Promise<string[]> {
  return (await queued(sessionStore.outgoingStream(client(clientId)))).map((p) => `${p.topic} ${p.payload.toString()}`)
}

describe('SessionStore', () => {
  it('passes Aedes\' own conformance suite for persistences', async () => {
    const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', '--test', 'test/broker/mqtt/fixtures/session-store-spec.ts'], { cwd: process.cwd(), timeout: 60_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, output: `${stdout}\n${stderr}` })
      })
    })
    if (result.code !== 0) {
      // The TAP summary and the failures, not the whole report.
      console.error(result.output.split('\n').filter((line) => /^not ok|^# (tests|pass|fail|cancelled)|error|expected|actual/i.test(line)).slice(0, 80).join('\n'))
    }
    expect(result.code).toBe(0)
  }, 90_000)

  it('for an absent client, keeps only the newest unsent message of each alarm topic, in order', async () => {
    const { store: sessionStore, drops } = store()
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'raised'))
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/south/pipe-2', 'raised'))
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'acknowledged'))
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'cleared'))
    expect(await payloadsFor(sessionStore, 'crew-1')).toEqual(['alarms/south/pipe-2 raised', 'alarms/north/lamp-1 cleared'])
    expect(sessionStore.queuedFor('crew-1')).toBe(2)
    expect(drops).toEqual([['crew-1', 'superseded'], ['crew-1', 'superseded']])
  })

  it('coalesces nothing for a connected client: it receives every change', async () => {
    const { store: sessionStore, drops } = store({ connected: new Set(['crew-1']) })
    for (const state of ['raised', 'acknowledged', 'cleared']) await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', state))
    expect(await payloadsFor(sessionStore, 'crew-1')).toEqual(['alarms/north/lamp-1 raised', 'alarms/north/lamp-1 acknowledged', 'alarms/north/lamp-1 cleared'])
    expect(drops).toEqual([])
  })

  it('never coalesces other topics, even for an absent client', async () => {
    const { store: sessionStore, drops } = store()
    for (const value of ['1', '2', '3']) await sessionStore.outgoingEnqueue({ clientId: 'lamp-1' }, publish('devices/lamp-1/commands/dim', value))
    // A topic that only contains "alarms/" is no alarm topic.
    await sessionStore.outgoingEnqueue({ clientId: 'lamp-1' }, publish('devices/alarms/x', 'a'))
    await sessionStore.outgoingEnqueue({ clientId: 'lamp-1' }, publish('devices/alarms/x', 'b'))
    expect(await payloadsFor(sessionStore, 'lamp-1')).toEqual(['devices/lamp-1/commands/dim 1', 'devices/lamp-1/commands/dim 2', 'devices/lamp-1/commands/dim 3', 'devices/alarms/x a', 'devices/alarms/x b'])
    expect(drops).toEqual([])
  })

  it('does not supersede a message already sent (awaiting its PUBACK)', async () => {
    const { store: sessionStore } = store()
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'raised'))
    const [sent] = await queued(sessionStore.outgoingStream(client('crew-1')))
    await sessionStore.outgoingUpdate(client('crew-1'), { ...sent, messageId: 11 } as AedesPacket)
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'cleared'))
    expect(await payloadsFor(sessionStore, 'crew-1')).toEqual(['alarms/north/lamp-1 raised', 'alarms/north/lamp-1 cleared'])
  })

  it('keeps at most maxQueuedPerClient messages per client, dropping the oldest', async () => {
    const { store: sessionStore, drops } = store({ maxQueuedPerClient: 3 })
    for (const n of [1, 2, 3, 4, 5]) await sessionStore.outgoingEnqueue({ clientId: 'lamp-1' }, publish('devices/lamp-1/commands/dim', String(n)))
    await sessionStore.outgoingEnqueue({ clientId: 'lamp-2' }, publish('devices/lamp-2/commands/dim', '1'))
    expect(await payloadsFor(sessionStore, 'lamp-1')).toEqual(['3', '4', '5'].map((n) => `devices/lamp-1/commands/dim ${n}`))
    expect(drops).toEqual([['lamp-1', 'queue_full'], ['lamp-1', 'queue_full']])
    expect(sessionStore.queuedFor('lamp-2')).toBe(1)
  })

  it('a superseding alarm message takes its predecessor\'s place, not the oldest message\'s', async () => {
    const { store: sessionStore, drops } = store({ maxQueuedPerClient: 2 })
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/south/pipe-2', 'raised'))
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'raised'))
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'cleared'))
    expect(await payloadsFor(sessionStore, 'crew-1')).toEqual(['alarms/south/pipe-2 raised', 'alarms/north/lamp-1 cleared'])
    expect(drops).toEqual([['crew-1', 'superseded']])
  })

  it('gives each subscriber of outgoingEnqueueCombi its own copy', async () => {
    const { store: sessionStore } = store()
    await sessionStore.outgoingEnqueueCombi([{ clientId: 'crew-1' }, { clientId: 'crew-2' }], publish('alarms/north/lamp-1', 'raised'))
    const [forCrew1] = await queued(sessionStore.outgoingStream(client('crew-1')))
    await sessionStore.outgoingUpdate(client('crew-1'), { ...forCrew1, messageId: 5 } as AedesPacket)
    expect((await queued(sessionStore.outgoingStream(client('crew-1'))))[0]?.messageId).toBe(5)
    expect((await queued(sessionStore.outgoingStream(client('crew-2'))))[0]?.messageId).toBeUndefined()
  })

  it('outgoingUpdate records the messageId; outgoingClearMessageId removes the acknowledged message', async () => {
    const { store: sessionStore } = store()
    const crew = client('crew-1')
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'raised'))
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/south/pipe-2', 'raised'))
    const [first, second] = await queued(sessionStore.outgoingStream(crew))
    await sessionStore.outgoingUpdate(crew, { ...first, messageId: 1 } as AedesPacket)
    await sessionStore.outgoingUpdate(crew, { ...second, messageId: 2 } as AedesPacket)
    expect((await queued(sessionStore.outgoingStream(crew))).map((p) => p.messageId)).toEqual([1, 2])

    // A packet the store never queued is an error, as in Aedes' own store.
    await expect(sessionStore.outgoingUpdate(crew, { ...publish('alarms/x/y', 'z'), messageId: 3 })).rejects.toThrow('no such packet')

    const cleared = await sessionStore.outgoingClearMessageId(crew, { messageId: 1 } as AedesPacket) as Published
    expect(cleared.payload.toString()).toBe('raised')
    expect(cleared.topic).toBe('alarms/north/lamp-1')
    expect(await payloadsFor(sessionStore, 'crew-1')).toEqual(['alarms/south/pipe-2 raised'])
    // An unknown id is no error.
    expect(await sessionStore.outgoingClearMessageId(crew, { messageId: 99 } as AedesPacket)).toBeUndefined()
    await sessionStore.outgoingClearMessageId(crew, { messageId: 2 } as AedesPacket)
    expect(sessionStore.queuedFor('crew-1')).toBe(0)
    expect(await queued(sessionStore.outgoingStream(crew))).toEqual([])
  })

  it('outgoingStream is a snapshot: messages queued while it is read do not change it', async () => {
    const { store: sessionStore } = store()
    await sessionStore.outgoingEnqueue({ clientId: 'lamp-1' }, publish('devices/lamp-1/commands/dim', '1'))
    const stream = sessionStore.outgoingStream(client('lamp-1'))
    await sessionStore.outgoingEnqueue({ clientId: 'lamp-1' }, publish('devices/lamp-1/commands/dim', '2'))
    expect((await queued(stream)).map((p) => p.payload.toString())).toEqual(['1'])
    expect(await queued(sessionStore.outgoingStream(client('nobody')))).toEqual([])
  })

  it('dropSession forgets subscriptions, queue and QoS 2 state of one client only', async () => {
    const { store: sessionStore } = store()
    const crew = client('crew-1')
    await sessionStore.addSubscriptions(crew, [{ topic: 'alarms/north/#', qos: 1 }])
    await sessionStore.addSubscriptions(client('crew-2'), [{ topic: 'alarms/north/#', qos: 1 }])
    await sessionStore.outgoingEnqueue({ clientId: 'crew-1' }, publish('alarms/north/lamp-1', 'raised'))
    await sessionStore.outgoingEnqueue({ clientId: 'crew-2' }, publish('alarms/north/lamp-1', 'raised'))
    const incoming = { ...publish('alarms/north/lamp-1', 'ack'), qos: 2, messageId: 4 } as AedesPacket
    await sessionStore.incomingStorePacket(crew, incoming)

    await sessionStore.dropSession('crew-1')

    expect((await sessionStore.subscriptionsByClient(crew)) ?? []).toEqual([])
    expect(sessionStore.queuedFor('crew-1')).toBe(0)
    expect(await queued(sessionStore.outgoingStream(crew))).toEqual([])
    await expect(sessionStore.incomingGetPacket(crew, { messageId: 4 } as AedesPacket)).rejects.toThrow()
    const subscribers = await sessionStore.subscriptionsByTopic('alarms/north/lamp-1')
    expect(subscribers.map((s) => s.clientId)).toEqual(['crew-2'])
    expect(sessionStore.queuedFor('crew-2')).toBe(1)
  })
})
