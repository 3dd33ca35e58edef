// The hooks on a real Aedes with the real registry, spool and ingest, without listeners, HTTP or
// alarms: CONNECT decisions, what a publish is allowed to do (and that it is consumed, not routed),
// subscription filters, and what a delivery may carry to whom.
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import path from 'node:path'
import { Aedes } from 'aedes'
import { connectAsync, type MqttClient } from 'mqtt'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configSchema, MAX_FUTURE_MS, UNKNOWN_FIELD_NOTICE_INTERVAL_MS } from '../../../../broker/config.ts'
import { createMetrics } from '../../../../broker/http/metrics.ts'
import { createIngest } from '../../../../broker/ingest/ingest.ts'
import { createLogThrottle } from '../../../../broker/log-throttle.ts'
import { createCrewSessions } from '../../../../broker/mqtt/guards/crew-sessions.ts'
import { createAbuseLimits } from '../../../../broker/mqtt/guards/index.ts'
import { createQos2Duplicates } from '../../../../broker/mqtt/guards/qos2-duplicates.ts'
import { installHooks, type BrokerHooks } from '../../../../broker/mqtt/hooks/index.ts'
import { addCrew, addDevice } from '../../../../broker/registry/provision.ts'
import { openRegistry, type Registry } from '../../../../broker/registry/registry.ts'
import { registryPath } from '../../../../broker/registry/store.ts'
import { openSpool, type Spool } from '../../../../broker/spool/spool.ts'
import { spoolDefaults } from '../../../helpers/default-options.ts'
import { makeTempDir, removeTempDir } from '../../../helpers/server-process.ts'

const silent = pino({ level: 'silent' })

function closeOf (client: MqttClient): Promise<void> {
  return new Promise((resolve) => { client.once('close', () => { resolve() }) })
}

describe('MQTT hooks', () => {
  let dir: string
  let broker: Aedes
  let registry: Registry
  let spool: Spool
  let hooks: BrokerHooks
  let url: string
  const secrets: Record<string, string> = {}
  const acks: string[] = []
  const clients: MqttClient[] = []
  let closeServer: () => Promise<void>

  beforeAll(async () => {
    dir = await makeTempDir('csg-hooks-')
    const file = registryPath(dir)
    secrets.device = (await addDevice(file, { id: 'mh-1', kind: 'manhole', district: 'north' })).secret
    secrets.north = (await addCrew(file, 'crew-north', ['north'])).secret
    registry = await openRegistry({ file, pollMs: 60_000, log: silent })
    spool = await openSpool({ ...spoolDefaults, dir: path.join(dir, 'spool'), log: silent })
    const metrics = createMetrics()
    const config = configSchema.parse({})
    const limits = createAbuseLimits(config, metrics, silent)
    broker = await Aedes.createBroker()
    const ingest = createIngest({
      spool, metrics, log: silent, maxMessageBytes: 65_536, maxBatchReadings: 100, backfillMs: 86_400_000, maxFutureMs: MAX_FUTURE_MS,
      unknownFieldNoticeIntervalMs: UNKNOWN_FIELD_NOTICE_INTERVAL_MS, throttle: createLogThrottle(60_000),
      publishNotice () {},
    })
    hooks = installHooks(broker, {
      registry,
      ingest,
      metrics,
      log: silent,
      ...limits.hooks(spool, () => {}),
      qos2: createQos2Duplicates(() => Promise.resolve(false)),
      crewSessions: createCrewSessions({ maxPerCrew: 2, isConnected: () => false, dropSession () {} }),
      onAcknowledge (crew, alarm) {
        acks.push(`${crew.name} ${alarm.deviceId}/${alarm.type}`)
        return Promise.resolve()
      },
    })
    const server = createServer((socket) => { broker.handle(socket) })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
    closeServer = () => new Promise<void>((resolve) => { broker.close(() => { server.close(() => { resolve() }) }) })
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await closeServer()
    await spool.close()
    registry.close()
    await removeTempDir(dir)
  })

  async function connect (clientId: string, username: string, password: string): Promise<MqttClient> {
    const client = await connectAsync(url, { clientId, username, password, reconnectPeriod: 0, connectTimeout: 5000 })
    clients.push(client)
    return client
  }

  it('admits a device and a crew by their secrets and refuses a wrong one with CONNACK 4', async () => {
    const device = await connect('mh-1', 'mh-1', secrets.device!)
    expect(device.connected).toBe(true)
    const crew = await connect('phone-1', 'crew-north', secrets.north!)
    expect(crew.connected).toBe(true)
    await expect(connect('mh-1', 'mh-1', 'wrong')).rejects.toThrow(/Bad username or password/)
  })

  it('spools a device\'s telemetry before its PUBACK and routes it to no one', async () => {
    const crew = await connect('phone-2', 'crew-north', secrets.north!)
    const seen: string[] = []
    crew.on('message', (topic) => { seen.push(topic) })
    await crew.subscribeAsync('alarms/north/#', { qos: 1 })
    const device = await connect('mh-1', 'mh-1', secrets.device!)
    const before = spool.stats().appendedRecords
    await device.publishAsync('devices/mh-1/telemetry', '{"coverAngle":2}', { qos: 1 })
    expect(spool.stats().appendedRecords).toBe(before + 1)
    const routed: string[] = []
    broker.on('publish', (packet, client) => { if (client !== null && client !== undefined) routed.push(packet.topic) })
    await device.publishAsync('devices/mh-1/status', '{"online":true}', { qos: 1 })
    expect(routed).toEqual([])
  })

  it('closes a device publishing to another device\'s topic', async () => {
    const device = await connect('mh-1', 'mh-1', secrets.device!)
    const closed = closeOf(device)
    device.publish('devices/mh-2/telemetry', '{}', { qos: 1 })
    await closed
  })

  it('applies a crew\'s acknowledgement in its district, refuses one in another', async () => {
    const crew = await connect('phone-3', 'crew-north', secrets.north!)
    await crew.publishAsync('alarms/north/manhole/mh-1/coverOpen/ack', '{"note":"on site"}', { qos: 1 })
    expect(acks).toEqual(['crew-north mh-1/coverOpen'])
    const closed = closeOf(crew)
    crew.publish('alarms/south/manhole/mh-9/coverOpen/ack', '{}', { qos: 1 })
    await closed
    expect(acks).toHaveLength(1)
  })

  it('grants a crew its districts\' filters only, and delivers only what it may receive', async () => {
    const crew = await connect('phone-4', 'crew-north', secrets.north!)
    const granted = await crew.subscribeAsync(['alarms/north/#', 'alarms/south/#', 'alarms/#'], { qos: 1 }).catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted)
    expect((granted as { qos: number }[] | number[]).map((g) => (typeof g === 'number' ? g : g.qos))).toEqual([1, 128, 128])
    const seen: string[] = []
    crew.on('message', (topic) => { seen.push(topic) })
    for (const topic of ['alarms/south/manhole/mh-9/coverOpen', 'alarms/north/manhole/mh-1/coverOpen']) {
      await new Promise<void>((resolve) => { broker.publish({ cmd: 'publish', topic, payload: Buffer.from('{}'), qos: 1, retain: false, dup: false }, () => { resolve() }) })
    }
    await expect.poll(() => seen).toEqual(['alarms/north/manhole/mh-1/coverOpen'])
  })

  it('knows each connection\'s identity and closes every connection of a removed name', async () => {
    const device = await connect('mh-1', 'mh-1', secrets.device!)
    const closed = closeOf(device)
    hooks.disconnect(['mh-1'])
    await closed
  })
})
