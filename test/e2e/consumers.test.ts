// Outside consumers against a real gateway, real MQTT.js clients and a real InfluxDB 1.x: the CLI
// (token once, stored hashed), Bearer tokens, scope on every route a consumer reaches (other
// districts and kinds 404 or absent, fields outside scope absent, no exact coordinate anywhere),
// 403 everywhere else, MQTT refusals, removal cutting HTTP and MQTT at once, `access` points in
// InfluxDB (also after an outage), and 429 above the per-consumer rate.
import { readFile } from 'node:fs/promises'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addConsumer, removeConsumer } from '../../broker/consumers/provision.ts'
import { coarsen } from '../../broker/consumers/scope.ts'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic, getJson } from '../helpers/api-client.ts'
import { runCitygw } from '../helpers/citygw.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { connectClient, connectDevice, connectOutcome, subscribeCodes } from '../helpers/mqtt.ts'
import { numbersIn } from '../helpers/numbers.ts'
import { eventually } from '../helpers/wait.ts'

const DEVICES = [
  { id: 'lp-n1', kind: 'lamp-post', district: 'north', lat: 52.3712347, lon: 4.8912341 },
  { id: 'wp-n1', kind: 'water-pipe', district: 'north', lat: 52.3811113, lon: 4.9011117 },
  { id: 'lp-s1', kind: 'lamp-post', district: 'south', lat: 52.3333391, lon: 4.8555523 },
] as const
const EXACT = new Set<number>(DEVICES.flatMap((d) => [d.lat, d.lon]))

function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

async function fetchText (url: string, headers: Record<string, string>, method = 'GET') {
  const res = await fetch(url, { method, headers })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

function closed (client: MqttClient, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!client.connected) { resolve(); return }
    const timer = setTimeout(() => reject(new Error('the connection stayed open')), timeoutMs)
    client.once('close', () => { clearTimeout(timer); resolve() })
  })
}

describe('outside consumers', () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let file: string
  let portal: string
  let hidden: string
  let ops: Record<string, string>
  let crew: Record<string, string>
  const clients: MqttClient[] = []

  beforeAll(async () => {
    influx = await startInfluxDb1({ databases: ['city'] })
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city' } })
    file = registryPath(gw.dataDir)
    const secrets: Record<string, string> = {}
    for (const d of DEVICES) secrets[d.id] = (await addDevice(file, d)).secret
    ops = basic('ops', (await addOperator(file, 'ops')).secret)
    crew = basic('crew-n', (await registerCrew(gw.dataDir, 'crew-n', ['north'])).secret)
    portal = (await addConsumer(file, 'portal', { districts: ['north'], kinds: ['lamp-post'], fields: ['activePower', 'supplyVoltage'] })).token
    hidden = (await addConsumer(file, 'hidden', { location: 'none' })).token
    await gw.gateway.reloadRegistry()
    for (const d of DEVICES.filter((x) => x.kind === 'lamp-post')) {
      const device = await connectDevice(gw.mqttUrl, d.id, secrets[d.id]!)
      await device.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify({ ts: Date.now() - 60_000, commandedLevel: 80, supplyVoltage: 231.5, activePower: 42.25 }), { qos: 1 })
      await device.endAsync()
    }
  }, 60_000)
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
    await influx?.close()
  })

  it('citygw consumer add prints the token once, list never shows it, the registry keeps only a hash', async () => {
    const env = { DATA_DIR: gw.dataDir, NATS_URL: undefined }
    const added = await runCitygw(['consumer', 'add', 'stats-office', '--districts', 'north,south', '--kinds', 'water-pipe', '--fields', 'pressure', '--json'], env)
    expect(added.code, added.stderr).toBe(0)
    const { name, token } = JSON.parse(added.stdout) as { name: string; token: string }
    expect(name).toBe('stats-office')
    const secretPart = token.slice('stats-office.'.length)
    expect(secretPart.length).toBeGreaterThanOrEqual(32)
    expect(await readFile(file, 'utf8')).not.toContain(secretPart)

    const listed = await runCitygw(['consumer', 'list', '--json'], env)
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).not.toContain(secretPart)
    const entries = listed.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(entries.find((e) => e.name === 'stats-office')).toMatchObject({ districts: ['north', 'south'], kinds: ['water-pipe'], fields: ['pressure'], location: 'coarse' })
    expect(entries.every((e) => !('secretHash' in e) && !('token' in e))).toBe(true)

    const badKind = await runCitygw(['consumer', 'add', 'x1', '--kinds', 'toaster'], env)
    expect(badKind.code).not.toBe(0)
    expect(badKind.stderr).toMatch(/kind toaster/)
    const badField = await runCitygw(['consumer', 'add', 'x2', '--kinds', 'water-pipe', '--fields', 'activePower'], env)
    expect(badField.code).not.toBe(0)
    expect(badField.stderr).toMatch(/field activePower/)

    await gw.gateway.reloadRegistry()
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(token))).body.devices).toMatchObject([{ id: 'wp-n1' }])
    const removed = await runCitygw(['consumer', 'remove', 'stats-office'], env)
    expect(removed.code, removed.stderr).toBe(0)
    await gw.gateway.reloadRegistry()
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(token))).status).toBe(401)
    expect((await runCitygw(['consumer', 'list'], env)).stdout).not.toContain('stats-office')
  }, 60_000)

  it('accepts a valid Bearer token and refuses wrong ones', async () => {
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(portal))).status).toBe(200)
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(`${portal}x`))).status).toBe(401)
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(`hidden${portal.slice('portal'.length)}`))).status).toBe(401)
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer('portal'))).status).toBe(401)
    const refused = await fetchText(`${gw.httpUrl}/api/devices`, bearer('nobody.abc'))
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/)
  })

  it('shows a consumer only its districts, kinds and fields, with coarse locations and no alarm counts', async () => {
    const list = (await getJson(`${gw.httpUrl}/api/devices`, bearer(portal))).body.devices as Record<string, unknown>[]
    expect(list.map((d) => d.id)).toEqual(['lp-n1'])
    expect(list[0]).toEqual({
      id: 'lp-n1', kind: 'lamp-post', district: 'north', location: coarsen(52.3712347, 4.8912341), online: false,
      lastSeen: expect.any(String) as unknown, latest: { supplyVoltage: { value: 231.5, ts: expect.any(String) as unknown }, activePower: { value: 42.25, ts: expect.any(String) as unknown } },
    })
    expect(((await getJson(`${gw.httpUrl}/api/devices?district=south`, bearer(portal))).body.devices as unknown[])).toEqual([])
    expect((await getJson(`${gw.httpUrl}/api/devices/lp-s1`, bearer(portal))).status).toBe(404)
    expect((await getJson(`${gw.httpUrl}/api/devices/wp-n1`, bearer(portal))).status).toBe(404)
    expect((await getJson(`${gw.httpUrl}/api/devices/wp-n1/series`, bearer(portal))).status).toBe(404)

    const detail = (await getJson(`${gw.httpUrl}/api/devices/lp-n1`, bearer(portal))).body
    expect((detail.fields as { name: string }[]).map((f) => f.name)).toEqual(['supplyVoltage', 'activePower'])
    expect(detail).not.toHaveProperty('openAlarms')
    expect(Object.keys(detail.latest as object)).toEqual(['supplyVoltage', 'activePower'])
    expect((await getJson(`${gw.httpUrl}/api/devices/lp-n1/series?field=commandedLevel`, bearer(portal))).status).toBe(400)
    const series = await eventually(async () => (await getJson(`${gw.httpUrl}/api/devices/lp-n1/series?field=activePower`, bearer(portal))).body,
      (body) => Array.isArray(body.points) && body.points.length === 1, { what: 'activePower in InfluxDB' })
    expect(series).toMatchObject({ field: 'activePower', points: [{ v: 42.25 }] })

    const kinds = (await getJson(`${gw.httpUrl}/api/kinds`, bearer(portal))).body.kinds as { name: string; fields: { name: string }[] }[]
    expect(kinds.map((k) => [k.name, k.fields.map((f) => f.name)])).toEqual([['lamp-post', ['supplyVoltage', 'activePower']]])
    // Crews and operators are not narrowed by any of this.
    expect(((await getJson(`${gw.httpUrl}/api/kinds`, ops)).body.kinds as unknown[]).length).toBe(3)
    expect(((await getJson(`${gw.httpUrl}/api/devices`, crew)).body.devices as { location: unknown }[]).map((d) => d.location)).toEqual([{ lat: 52.3712347, lon: 4.8912341 }, { lat: 52.3811113, lon: 4.9011117 }])
  })

  it('never lets an exact coordinate reach a coarse or location-less consumer, on any route it can reach', async () => {
    const paths = ['/api/devices', '/api/devices?kind=lamp-post', '/api/devices?district=north', '/api/kinds', '/api/openapi.json',
      ...DEVICES.flatMap((d) => [`/api/devices/${d.id}`, `/api/devices/${d.id}/series`, `/api/devices/${d.id}/series?field=activePower&minutes=10080`])]
    let seen = 0
    for (const token of [portal, hidden]) {
      for (const path of paths) {
        const { status, text } = await fetchText(`${gw.httpUrl}${path}`, bearer(token))
        expect(status, path).toBeLessThan(500)
        for (const n of numbersIn(text)) expect(EXACT.has(n), `${n} in ${path}`).toBe(false)
        seen += 1
      }
    }
    expect(seen).toBe(paths.length * 2)
    const all = (await getJson(`${gw.httpUrl}/api/devices`, bearer(hidden))).body.devices as Record<string, unknown>[]
    expect(all).toHaveLength(3)
    expect(all.every((d) => !('location' in d))).toBe(true)
    // The check itself finds exact coordinates where they are served.
    expect(numbersIn((await fetchText(`${gw.httpUrl}/api/devices`, ops)).text).some((n) => EXACT.has(n))).toBe(true)
  })

  it('answers 403 to a consumer on every other route', async () => {
    const routes: [string, string][] = [
      ['GET', '/api/alarms'], ['GET', '/api/alarms/stats'], ['GET', '/api/alarms/history'], ['GET', '/api/alarms/x/timeline'], ['GET', '/api/alarms/stream'],
      ['POST', '/api/alarms/x/ack'], ['GET', '/api/incidents'], ['GET', '/api/maintenance'], ['POST', '/api/maintenance'], ['GET', '/api/sessions'],
      ['DELETE', '/api/sessions/x'], ['GET', '/api/session'], ['POST', '/api/session'], ['DELETE', '/api/session'], ['GET', '/api/console/settings'],
      ['GET', '/metrics'], ['GET', '/api/nothing-here'],
    ]
    for (const [method, path] of routes) {
      const { status, text } = await fetchText(`${gw.httpUrl}${path}`, bearer(portal), method)
      expect(status, `${method} ${path}`).toBe(403)
      expect(text).not.toMatch(/crew-n|ops/)
    }
    // /sta/v1.1 is open to consumers, read-only, within their scope.
    const things = await fetchText(`${gw.httpUrl}/sta/v1.1/Things`, bearer(portal))
    expect(things.status).toBe(200)
    expect((JSON.parse(things.text) as { value: { name: string }[] }).value.map((t) => t.name)).toEqual(['lp-n1'])
    expect((await fetchText(`${gw.httpUrl}/sta/v1.1/Things`, bearer(portal), 'POST')).status).toBe(403)
  })

  it('lets a consumer connect over MQTT, subscribe only to its SensorThings topics and publish nothing', async () => {
    const client = await connectClient(gw.mqttUrl, { clientId: 'portal-sub', username: 'portal', password: portal })
    clients.push(client)
    // `v1.1/Observations` is granted: each message on it is checked against the scope on delivery.
    expect(await subscribeCodes(client, ['alarms/#', 'alarms/north/#', 'devices/#', 'devices/lp-n1/telemetry', '#', 'v1.1/#', 'v1.1/Observations',
      "v1.1/Datastreams('lp-n1:commandedLevel')/Observations", "v1.1/Datastreams('lp-s1:activePower')/Observations", "v1.1/Datastreams('lp-n1:activePower')/Observations"]))
      .toEqual([128, 128, 128, 128, 128, 128, 1, 128, 128, 1])
    expect(client.connected).toBe(true)
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'p2', username: 'portal', password: `${portal}x` })).toMatch(/Bad username or password|Not authorized/)

    for (const topic of ["v1.1/Datastreams('lp-n1:activePower')/Observations", 'devices/lp-n1/telemetry', 'alarms/north/lamp-post/lp-n1/lampFailure/ack']) {
      const publisher = await connectClient(gw.mqttUrl, { clientId: `portal-pub-${topic.length}`, username: 'portal', password: portal })
      clients.push(publisher)
      publisher.on('error', () => { /* the refusal closes the connection */ })
      const gone = closed(publisher)
      publisher.publish(topic, '{"result":1}', { qos: 1 })
      await gone
    }
  })

  it('cuts a removed consumer off over HTTP and MQTT at once', async () => {
    const gone = (await addConsumer(file, 'leaving', { location: 'exact' })).token
    await gw.gateway.reloadRegistry()
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(gone))).status).toBe(200)
    const client = await connectClient(gw.mqttUrl, { clientId: 'leaving-1', username: 'leaving', password: gone })
    clients.push(client)
    const cut = closed(client)
    await removeConsumer(file, 'leaving')
    await gw.gateway.reloadRegistry()
    expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(gone))).status).toBe(401)
    await cut
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'leaving-2', username: 'leaving', password: gone })).toMatch(/Bad username or password|Not authorized/)
  })

  it('writes one access point per consumer request, also while InfluxDB is down', async () => {
    type Row = [number, string, string, string, number | null, number]
    async function accessRows (where: string): Promise<Row[]> {
      const [result] = await influx.query(`SELECT "consumer", "query", "route", "rows", "status" FROM "access" WHERE ${where}`, 'city')
      return (result?.series?.[0]?.values ?? []) as Row[]
    }
    await getJson(`${gw.httpUrl}/api/devices/lp-n1?`, bearer(portal))
    await getJson(`${gw.httpUrl}/api/devices/lp-s1`, bearer(portal))
    await getJson(`${gw.httpUrl}/api/devices?kind=lamp-post`, bearer(portal))
    await getJson(`${gw.httpUrl}/api/alarms?state=open`, bearer(portal))
    await getJson(`${gw.httpUrl}/api/devices?kind=manhole`, ops)
    const rows = await eventually(() => accessRows(`"consumer" = 'portal' AND time > now() - 1m`), (r) => r.some((x) => x[3] === '/api/alarms' && x[2] === 'state=open'), { what: 'access points' })
    const byRoute = (route: string, status: number) => rows.filter((r) => r[3] === route && r[5] === status)
    expect(byRoute('/api/devices/:id', 200).length).toBeGreaterThanOrEqual(1)
    expect(byRoute('/api/devices/:id', 404).length).toBeGreaterThanOrEqual(1)
    // Which device was asked for is in `path`, beside the route pattern.
    const [pathRow] = await accessRows(`"consumer" = 'portal' AND "path" = '/api/devices/lp-s1'`)
    expect(pathRow?.[3]).toBe('/api/devices/:id')
    expect(pathRow?.[5]).toBe(404)
    expect(byRoute('/api/devices', 200).find((r) => r[2] === 'kind=lamp-post')?.[4]).toBe(1)
    expect(byRoute('/api/alarms', 403).find((r) => r[2] === 'state=open')).toBeDefined()
    expect((await accessRows(`"query" = 'kind=manhole'`))).toEqual([])

    await influx.stop()
    const during = await getJson(`${gw.httpUrl}/api/devices/lp-n1/series?field=activePower&minutes=17`, bearer(portal))
    expect(during.status).toBe(502)
    await influx.start()
    const after = await eventually(() => accessRows(`"query" = 'field=activePower&minutes=17'`), (r) => r.length === 1, { what: 'the access point written during the outage', timeoutMs: 60_000, intervalMs: 500 })
    expect(after[0]?.slice(1)).toEqual(['portal', 'field=activePower&minutes=17', '/api/devices/:id/series', null, 502])
  }, 90_000)
})

describe('consumer rate limit', () => {
  it('answers 429 with Retry-After above the consumer\'s rate; crews, operators and other consumers are unaffected', async () => {
    const gw = await startTestGateway({ env: { CONSUMER_RATE_PER_MIN: '3' } })
    try {
      const file = registryPath(gw.dataDir)
      const first = (await addConsumer(file, 'greedy', {})).token
      const second = (await addConsumer(file, 'modest', {})).token
      const ops = basic('ops', (await addOperator(file, 'ops')).secret)
      await gw.gateway.reloadRegistry()
      for (let i = 0; i < 3; i++) expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(first))).status).toBe(200)
      const limited = await fetchText(`${gw.httpUrl}/api/kinds`, bearer(first))
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await getJson(`${gw.httpUrl}/api/devices`, bearer(second))).status).toBe(200)
      for (let i = 0; i < 10; i++) expect((await getJson(`${gw.httpUrl}/api/devices`, ops)).status).toBe(200)
      expect(await (await fetch(`${gw.httpUrl}/metrics`)).text()).toMatch(/citygw_limits_exceeded_total\{limit="consumer_rate"\} 1/)
    } finally {
      await gw.close(true)
    }
  })
})

describe('consumer audit', () => {
  it('withholds an answer whose access point cannot be stored (spool full): 503, no data', async () => {
    const gw = await startTestGateway({ env: { SPOOL_MAX_BYTES: '2000' } })
    try {
      const file = registryPath(gw.dataDir)
      await addDevice(file, { id: 'lp-x', kind: 'lamp-post', district: 'north', lat: 52.1234567, lon: 4.7654321 })
      const token = (await addConsumer(file, 'portal', {})).token
      const ops = basic('ops', (await addOperator(file, 'ops')).secret)
      await gw.gateway.reloadRegistry()
      const statuses: number[] = []
      let last = ''
      for (let i = 0; i < 100 && !statuses.includes(503); i++) {
        const { status, text } = await fetchText(`${gw.httpUrl}/api/devices?kind=lamp-post`, bearer(token))
        statuses.push(status)
        last = text
      }
      expect(statuses[0]).toBe(200)
      expect(statuses.at(-1)).toBe(503)
      expect(last).not.toContain('lp-x')
      expect((await getJson(`${gw.httpUrl}/api/devices`, ops)).status).toBe(200)
    } finally {
      await gw.close(true)
    }
  })
})
