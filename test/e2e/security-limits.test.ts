// Abuse limits against a real gateway: connections per IP, CONNECT timeout, keepalive bounds,
// failed-login backoff and lockout, publish rate, topic limits and subscriptions per client —
// each refused, counted in /metrics and logged once per offender and period.
import { connect, type Socket } from 'node:net'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectDevice, connectOutcome, subscribeCodes } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

const closers: (() => Promise<void>)[] = []
afterAll(async () => { for (const close of closers.reverse()) await close() })

async function gateway (env: Record<string, string>): Promise<TestGateway> {
  const gw = await startTestGateway({ env })
  closers.push(() => gw.close(true))
  return gw
}

async function limitCount (gw: TestGateway, limit: string): Promise<number> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text()
  return Number(new RegExp(`^citygw_limits_exceeded_total\\{limit="${limit}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
}

async function aclDenials (gw: TestGateway, action: string): Promise<number> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text()
  return Number(new RegExp(`^citygw_acl_denials_total\\{action="${action}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
}

function logsWith (gw: TestGateway, msg: string): Record<string, unknown>[] {
  return gw.logs().filter((line) => line.msg === msg)
}

describe('connections', () => {
  it('closes sockets beyond MAX_CONNECTIONS_PER_IP at once and silent ones after MQTT_CONNECT_TIMEOUT_MS', async () => {
    const gw = await gateway({ MAX_CONNECTIONS_PER_IP: '10', MQTT_CONNECT_TIMEOUT_MS: '300' })
    const sockets: Socket[] = Array.from({ length: 12 }, () => connect(gw.gateway.ports.mqtt, '127.0.0.1'))
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => { s.on('error', () => {}); s.once('close', () => resolve()) })))
    expect(await limitCount(gw, 'connections_per_ip')).toBe(2)
    expect(await limitCount(gw, 'connect_timeout')).toBe(10)
    // Once per offender and period, however many events.
    expect(logsWith(gw, 'connection closed: limit reached')).toHaveLength(1)
    expect(logsWith(gw, 'connection error before CONNECT')).toHaveLength(1)
  })

  it('refuses keepalive 0 and keepalives above MQTT_KEEPALIVE_MAX_SEC with "identifier rejected"', async () => {
    const gw = await gateway({ MQTT_KEEPALIVE_MAX_SEC: '120' })
    const { secret } = await registerDevice(gw.dataDir, 'ka-1', 'manhole')
    await gw.gateway.reloadRegistry()
    const creds = { clientId: 'ka-1', username: 'ka-1', password: secret }
    expect(await connectOutcome(gw.mqttUrl, { ...creds, keepalive: 0 })).toMatch(/Identifier rejected/i)
    expect(await connectOutcome(gw.mqttUrl, { ...creds, keepalive: 121 })).toMatch(/Identifier rejected/i)
    expect(await connectOutcome(gw.mqttUrl, { ...creds, keepalive: 120 })).toBe('connected')
    expect(await limitCount(gw, 'keepalive')).toBe(2)
  })
})

describe('failed logins', () => {
  it('delays refusals, then locks the address out, sparing devices known to log in from it', async () => {
    const gw = await gateway({ AUTH_FAILURES_BEFORE_BACKOFF: '2', AUTH_FAILURES_BEFORE_LOCKOUT: '6', AUTH_BACKOFF_MAX_MS: '200', AUTH_LOCKOUT_SEC: '1' })
    const good = await registerDevice(gw.dataDir, 'known-1', 'manhole')
    const fresh = await registerDevice(gw.dataDir, 'fresh-1', 'manhole')
    await gw.gateway.reloadRegistry()
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'known-1', username: 'known-1', password: good.secret })).toBe('connected')

    const attempt = (i: number): Promise<string> => connectOutcome(gw.mqttUrl, { clientId: `ghost-${i}`, username: `ghost-${i}`, password: 'guess' })
    expect(await attempt(1)).toMatch(/Bad username or password/i)
    expect(await attempt(2)).toMatch(/Bad username or password/i)
    const started = Date.now()
    expect(await attempt(3)).toMatch(/Bad username or password/i)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150) // held back by the backoff
    for (let i = 4; i <= 6; i++) await attempt(i)
    // Locked out: refused before the credentials are looked at, even right ones of a device new to this address.
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'fresh-1', username: 'fresh-1', password: fresh.secret })).toMatch(/Not authorized/i)
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'known-1', username: 'known-1', password: good.secret })).toBe('connected')
    expect(await limitCount(gw, 'login_backoff')).toBeGreaterThanOrEqual(1)
    expect(await limitCount(gw, 'login_lockout')).toBeGreaterThanOrEqual(2)
    expect(logsWith(gw, 'too many failed logins: locked out').filter((l) => l.scope === 'ip')).toHaveLength(1)
    expect(logsWith(gw, 'connection refused')).toHaveLength(1)

    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'fresh-1', username: 'fresh-1', password: fresh.secret })).toBe('connected')
  })
})

describe('publish rate, topics and subscriptions', () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  const clients: MqttClient[] = []
  /** Registers a manhole, connects it (kept for the cleanup) and returns its client. */
  async function newDevice (id: string): Promise<MqttClient> {
    const { secret } = await registerDevice(gw.dataDir, id, 'manhole')
    await gw.gateway.reloadRegistry()
    const client = await connectDevice(gw.mqttUrl, id, secret)
    clients.push(client)
    return client
  }
  beforeAll(async () => {
    influx = await startInfluxDb1({ databases: ['city'] })
    closers.push(() => influx.close())
    gw = await gateway({
      INFLUX_URL: influx.url, INFLUX_API: 'v1', PUBLISH_RATE_PER_SEC: '1', PUBLISH_BURST: '3', PUBLISH_DELAY_MAX_SEC: '2',
      MAX_SUBSCRIPTIONS_PER_CLIENT: '3', MAX_TOPIC_LEVELS: '5', MAX_TOPIC_BYTES: '64',
    })
    closers.push(async () => { await Promise.all(clients.map((c) => c.endAsync(true))) })
  })

  it('acknowledges messages above the rate later instead of dropping them: every acknowledged reading is stored', async () => {
    const client = await newDevice('flood-1')
    const base = Date.now() - 60_000
    const started = Date.now()
    // Burst 3, then 1/s: the 4th and 5th PUBACKs come about 1 s and 2 s later.
    await Promise.all(Array.from({ length: 5 }, (_, i) => client.publishAsync('devices/flood-1/telemetry', JSON.stringify({ ts: base + i, coverAngle: 1 }), { qos: 1 })))
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500)
    const stored = await eventually(() => influx.query("SELECT count(coverAngle) FROM manhole WHERE device_id = 'flood-1'", 'city'), (r) => r[0]?.series?.[0]?.values[0]?.[1] === 5, { what: 'all 5 readings' })
    expect(stored[0]?.series?.[0]?.values[0]?.[1]).toBe(5)
    expect(await limitCount(gw, 'publish_rate')).toBeGreaterThanOrEqual(2)
    expect(client.connected).toBe(true)
  })

  it('refuses without PUBACK what lies beyond the longest delay, closes the connection and records it once', async () => {
    const client = await newDevice('flood-2')
    const closed = new Promise<void>((resolve) => { client.once('close', () => { resolve() }) })
    let pubacks = 0
    client.on('packetreceive', (packet) => { if (packet.cmd === 'puback') pubacks++ })
    const base = Date.now() - 60_000
    const publish = (i: number): Promise<unknown> => client.publishAsync('devices/flood-2/telemetry', JSON.stringify({ ts: base + i, coverAngle: 2 }), { qos: 1 }).catch(() => undefined)
    await Promise.all([0, 1, 2].map(publish)) // the burst
    // Two more fit in the 2 s of delay; the next would wait 3 s and is refused: the connection closes.
    for (let i = 3; i < 8; i++) void publish(i)
    await closed
    // Only the burst was acknowledged; the delayed ones found the connection gone and were not stored.
    const rejected = await eventually(() => influx.query("SELECT count(payload) FROM rejected WHERE reason = 'rate_limited' AND device_id = 'flood-2'", 'city'), (r) => r[0]?.series !== undefined, { what: 'the rate_limited point' })
    expect(rejected[0]?.series?.[0]?.values[0]?.[1]).toBe(1)
    const stored = await eventually(() => influx.query("SELECT count(coverAngle) FROM manhole WHERE device_id = 'flood-2'", 'city'), (r) => r[0]?.series !== undefined, { what: 'the burst' })
    expect(stored[0]?.series?.[0]?.values[0]?.[1]).toBe(3)
    expect(pubacks).toBe(3)
    expect(await limitCount(gw, 'publish_rate_refused')).toBeGreaterThanOrEqual(1)
    expect(logsWith(gw, 'publish rate exceeded beyond the longest delay: closing the connection without acknowledging')).toHaveLength(1)
  })

  it('logs refused subscriptions once per offender and period, however many', async () => {
    const client = await newDevice('nosy-1')
    const deniedBefore = await aclDenials(gw, 'subscribe')
    for (let i = 0; i < 20; i++) {
      const codes = await subscribeCodes(client, Array.from({ length: 50 }, (_, j) => `devices/other-${j}/errors`))
      expect(codes.every((code) => code === 128)).toBe(true)
    }
    expect(await aclDenials(gw, 'subscribe') - deniedBefore).toBe(1000)
    expect(logsWith(gw, 'subscription refused').filter((l) => l.deviceId === 'nosy-1')).toHaveLength(1)
    expect(client.connected).toBe(true)
  })

  it('tells a device about every bad message but logs its rejections once per period', async () => {
    const client = await newDevice('bad-fw-1')
    const notices = await collect(client, 'devices/bad-fw-1/errors')
    // Within the burst: 3 tokens, so three messages, each a different kind of rejection.
    await client.publishAsync('devices/bad-fw-1/telemetry', 'not json', { qos: 1 })
    await client.publishAsync('devices/bad-fw-1/telemetry', '{"coverAngle":999}', { qos: 1 })
    await client.publishAsync('devices/bad-fw-1/telemetry', '[]', { qos: 1 })
    await notices.waitFor(3)
    const lines = gw.logs().filter((l) => l.deviceId === 'bad-fw-1' && (l.msg === 'message rejected' || l.msg === 'readings rejected'))
    expect(lines.map((l) => l.msg).sort()).toEqual(['message rejected', 'readings rejected'])
  })

  it('refuses subscriptions beyond MAX_SUBSCRIPTIONS_PER_CLIENT and filters too deep or too long', async () => {
    const client = await newDevice('subs-1')
    const own = 'devices/subs-1/commands/'
    expect(await subscribeCodes(client, ['devices/subs-1/errors', `${own}a`, `${own}b`, `${own}c`])).toEqual([1, 1, 1, 128])
    await client.unsubscribeAsync(`${own}a`)
    expect(await subscribeCodes(client, [`${own}c`])).toEqual([1])
    await client.unsubscribeAsync(`${own}c`)
    expect(await subscribeCodes(client, [`${own}a/b/c`, `${own}${'x'.repeat(60)}`])).toEqual([128, 128])
    expect(await limitCount(gw, 'subscriptions')).toBe(1)
    expect(await limitCount(gw, 'topic_depth')).toBe(1)
    expect(await limitCount(gw, 'topic_length')).toBe(1)
    expect(client.connected).toBe(true)
  })
})
