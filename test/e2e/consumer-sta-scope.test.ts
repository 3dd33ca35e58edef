// Outside consumers through the SensorThings API, against a real gateway, a real InfluxDB 1.x, real
// MQTT.js devices and consumers and mosquitto_sub: every entity set, entity, navigation path, $value,
// $ref, property, $expand, $select, $count and next link answers within the consumer's scope (coarse,
// none, exact); $filter is no oracle for exact points, hidden fields or hidden Things; no exact
// coordinate appears in any body; MQTT delivers only what the scope sees; each request is audited.
import { spawn } from 'node:child_process'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addConsumer } from '../../broker/consumers/provision.ts'
import { coarsen } from '../../broker/consumers/scope.ts'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { collect, connectClient, connectDevice, subscribeCodes } from '../helpers/mqtt.ts'
import { numbersIn } from '../helpers/numbers.ts'
import { requireBinary } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

type Json = Record<string, unknown>
type Consumer = 'portal' | 'blind' | 'exact'

const DEVICES = [
  { id: 'lp-n1', kind: 'lamp-post', district: 'north', lat: 52.3712347, lon: 4.8912341 },
  { id: 'lp-n2', kind: 'lamp-post', district: 'north', lat: 52.3612343, lon: 4.8812349 },
  { id: 'wp-n1', kind: 'water-pipe', district: 'north', lat: 52.3811113, lon: 4.9011117 },
  { id: 'lp-s1', kind: 'lamp-post', district: 'south', lat: 52.3333391, lon: 4.8555523 },
] as const
const EXACT = new Set<number>(DEVICES.flatMap((d) => [d.lat, d.lon]))
const COARSE = new Set<number>(DEVICES.flatMap((d) => { const c = coarsen(d.lat, d.lon); return [c.lat, c.lon] }))
const LP_N1 = DEVICES[0]
const LP_N1_COARSE = coarsen(LP_N1.lat, LP_N1.lon)
/** The portal's fields (one district, one kind, two fields); commandedLevel is stored but hidden. */
const PORTAL_FIELDS = ['activePower', 'supplyVoltage']
const HIDDEN_LEVEL = 77

function point (lon: number, lat: number): string {
  return `geography'POINT(${lon} ${lat})'`
}
/** A square of ±1e-6° (about 0.1 m) around a point. */
function tinySquare (lon: number, lat: number): string {
  const d = 1e-6
  return `geography'POLYGON((${lon - d} ${lat - d}, ${lon + d} ${lat - d}, ${lon + d} ${lat + d}, ${lon - d} ${lat + d}, ${lon - d} ${lat - d}))'`
}
function planarDistance (a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  return Math.hypot(a.lat - b.lat, a.lon - b.lon)
}
function ids (body: Json): string[] {
  return (body.value as Json[]).map((e) => e['@iot.id'] as string).sort()
}

describe('consumers through the SensorThings API', () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let sta: string
  const tokens = {} as Record<Consumer, string>
  const secrets: Record<string, string> = {}
  const requests: Record<Consumer, number> = { portal: 0, blind: 0, exact: 0 }
  const clients: MqttClient[] = []
  let ops: Record<string, string>
  /** Times of the two stored readings of every device. */
  const ts = Date.now() - 120_000

  /**
   * One STA request of a consumer. Every body a coarse or location-less consumer receives is
   * checked here: no exact coordinate (and, for `none`, no coarse one either) is in it.
   */
  async function get (who: Consumer, pathOrUrl: string): Promise<{ status: number; body: Json; text: string }> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${sta}${pathOrUrl}`
    const res = await fetch(url, { headers: { authorization: `Bearer ${tokens[who]}` } })
    requests[who] += 1
    const text = await res.text()
    if (who !== 'exact') {
      for (const n of numbersIn(text)) {
        expect(EXACT.has(n), `${n} in ${who} ${pathOrUrl}`).toBe(false)
        if (who === 'blind') expect(COARSE.has(n), `${n} in ${who} ${pathOrUrl}`).toBe(false)
      }
    }
    // 501 (not implemented) is an answer; any other 5xx is a failure here.
    expect(res.status === 500 || res.status > 501, `${who} ${pathOrUrl}: ${res.status} ${text.slice(0, 300)}`).toBe(false)
    let body: Json = {}
    if (res.headers.get('content-type')?.startsWith('application/json') === true) body = JSON.parse(text) as Json
    return { status: res.status, body, text }
  }
  async function ok (who: Consumer, path: string): Promise<Json> {
    const answer = await get(who, path)
    expect(answer.status, `${who} ${path}: ${answer.text.slice(0, 300)}`).toBe(200)
    return answer.body
  }
  async function notFound (who: Consumer, path: string): Promise<void> {
    expect((await get(who, path)).status, `${who} ${path}`).toBe(404)
  }
  function filter (expr: string): string {
    return `$filter=${encodeURIComponent(expr)}`
  }
  function obsId (device: string, field: string, i = 0): string {
    return `${device}:${field}:${ts + i * 1000}`
  }

  beforeAll(async () => {
    requireBinary('/usr/bin/mosquitto_sub', 'mosquitto-clients')
    influx = await startInfluxDb1({ databases: ['city'] })
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city' } })
    sta = `${gw.httpUrl}/sta/v1.1`
    const file = registryPath(gw.dataDir)
    for (const d of DEVICES) secrets[d.id] = (await addDevice(file, d)).secret
    ops = basic('ops', (await addOperator(file, 'ops')).secret)
    tokens.portal = (await addConsumer(file, 'portal', { districts: ['north'], kinds: ['lamp-post'], fields: PORTAL_FIELDS, location: 'coarse' })).token
    tokens.blind = (await addConsumer(file, 'blind', { location: 'none' })).token
    tokens.exact = (await addConsumer(file, 'exact', { districts: ['north'], location: 'exact' })).token
    await gw.gateway.reloadRegistry()
    for (const d of DEVICES) {
      const device = await connectDevice(gw.mqttUrl, d.id, secrets[d.id]!)
      const readings = [0, 1].map((i) => d.kind === 'lamp-post'
        ? { ts: ts + i * 1000, commandedLevel: HIDDEN_LEVEL, supplyVoltage: 231.5, activePower: 42.25 }
        : { ts: ts + i * 1000, pressure: 401.5, flowRate: 3 })
      await device.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(readings), { qos: 1 })
      await device.endAsync()
    }
    // 3 lamps × 3 fields × 2 + 1 pipe × 2 fields × 2.
    await eventually(async () => (await fetch(`${sta}/Observations?$top=1000`, { headers: ops })).json() as Promise<Json>,
      (body) => Array.isArray(body.value) && body.value.length === 22, { what: 'the readings in InfluxDB', timeoutMs: 30_000 })
  }, 90_000)
  afterAll(async () => {
    for (const client of clients) await client.endAsync(true)
    await gw?.close(true)
    await influx?.close()
  })

  it('lists only the coarse consumer\'s Things, Datastreams, ObservedProperties and Observations, at coarse points', async () => {
    expect(ids(await ok('portal', '/Things'))).toEqual(['lp-n1', 'lp-n2'])
    expect(ids(await ok('portal', '/Locations'))).toEqual(['lp-n1', 'lp-n2'])
    expect(ids(await ok('portal', '/HistoricalLocations'))).toEqual(['lp-n1', 'lp-n2'])
    expect(ids(await ok('portal', '/FeaturesOfInterest'))).toEqual(['lp-n1', 'lp-n2'])
    expect(ids(await ok('portal', '/Sensors'))).toEqual(['lamp-post'])
    expect(ids(await ok('portal', '/ObservedProperties'))).toEqual(['lamp-post:activePower', 'lamp-post:supplyVoltage'])
    expect(ids(await ok('portal', '/Datastreams'))).toEqual(['lp-n1:activePower', 'lp-n1:supplyVoltage', 'lp-n2:activePower', 'lp-n2:supplyVoltage'])
    const visible = ['lp-n1', 'lp-n2'].flatMap((d) => PORTAL_FIELDS.flatMap((f) => [obsId(d, f, 0), obsId(d, f, 1)])).sort()
    expect(ids(await ok('portal', '/Observations?$top=1000'))).toEqual(visible)

    const location = await ok('portal', "/Locations('lp-n1')")
    expect(location.location).toEqual({ type: 'Point', coordinates: [LP_N1_COARSE.lon, LP_N1_COARSE.lat] })
    expect((await ok('portal', "/FeaturesOfInterest('lp-n1')")).feature).toEqual({ type: 'Point', coordinates: [LP_N1_COARSE.lon, LP_N1_COARSE.lat] })
    expect(await ok('portal', "/Locations('lp-n1')/location")).toEqual({ location: { type: 'Point', coordinates: [LP_N1_COARSE.lon, LP_N1_COARSE.lat] } })
    const value = await get('portal', "/Locations('lp-n1')/location/$value")
    expect(value.status).toBe(200)
    expect(JSON.parse(value.text)).toEqual({ type: 'Point', coordinates: [LP_N1_COARSE.lon, LP_N1_COARSE.lat] })
    expect((await get('portal', "/FeaturesOfInterest('lp-n1')/feature/$value")).status).toBe(200)
    expect((await ok('portal', "/Things('lp-n1')")).name).toBe('lp-n1')
    expect((await ok('portal', "/HistoricalLocations('lp-n1')"))['@iot.id']).toBe('lp-n1')
    expect((await ok('portal', "/Sensors('lamp-post')"))['@iot.id']).toBe('lamp-post')
    expect((await ok('portal', "/ObservedProperties('lamp-post:activePower')"))['@iot.id']).toBe('lamp-post:activePower')
    expect((await ok('portal', "/Datastreams('lp-n1:activePower')"))['@iot.id']).toBe('lp-n1:activePower')
    expect((await ok('portal', `/Observations('${obsId('lp-n1', 'activePower')}')`)).result).toBe(42.25)
  })

  it('answers 404 for every hidden device, kind, field and their Observations, on entities and paths', async () => {
    for (const id of ['lp-s1', 'wp-n1']) {
      for (const set of ['Things', 'Locations', 'HistoricalLocations', 'FeaturesOfInterest']) await notFound('portal', `/${set}('${id}')`)
      await notFound('portal', `/Things('${id}')/Locations`)
      await notFound('portal', `/Things('${id}')/Datastreams`)
      await notFound('portal', `/Things('${id}')/name/$value`)
      await notFound('portal', `/Locations('${id}')/location`)
      await notFound('portal', `/FeaturesOfInterest('${id}')/Observations`)
    }
    await notFound('portal', "/Sensors('water-pipe')")
    await notFound('portal', "/Sensors('water-pipe')/Datastreams")
    for (const id of ['lamp-post:commandedLevel', 'water-pipe:pressure']) await notFound('portal', `/ObservedProperties('${id}')`)
    await notFound('portal', "/ObservedProperties('lamp-post:commandedLevel')/Datastreams")
    for (const id of ['lp-n1:commandedLevel', 'lp-s1:activePower', 'wp-n1:pressure']) {
      await notFound('portal', `/Datastreams('${id}')`)
      await notFound('portal', `/Datastreams('${id}')/Observations`)
      await notFound('portal', `/Datastreams('${id}')/Thing/Locations`)
      await notFound('portal', `/Observations('${id}:${ts}')`)
      await notFound('portal', `/Observations('${id}:${ts}')/FeatureOfInterest`)
      await notFound('portal', `/Observations('${id}:${ts}')/Datastream/Thing/Locations`)
      await notFound('portal', `/Observations('${id}:${ts}')/result/$value`)
    }
    await notFound('portal', `/Things('lp-n1')/Datastreams('lp-n1:commandedLevel')`)
    await notFound('portal', `/Datastreams('lp-n1:activePower')/Observations('${obsId('lp-n1', 'commandedLevel')}')`)
    await notFound('portal', `/FeaturesOfInterest('lp-n1')/Observations('${obsId('lp-n1', 'commandedLevel')}')`)
    // The exact consumer sees north only, all kinds and fields.
    await notFound('exact', "/Things('lp-s1')")
    await notFound('exact', `/Observations('${obsId('lp-s1', 'activePower')}')`)
    expect((await ok('exact', `/Observations('${obsId('lp-n1', 'commandedLevel')}')`)).result).toBe(HIDDEN_LEVEL)
  })

  it('keeps navigation, $ref, $expand and $select within the scope, at coarse points', async () => {
    const coarse = { type: 'Point', coordinates: [LP_N1_COARSE.lon, LP_N1_COARSE.lat] }
    expect((await ok('portal', "/Things('lp-n1')/Locations")).value).toMatchObject([{ '@iot.id': 'lp-n1', location: coarse }])
    expect(ids(await ok('portal', "/Things('lp-n1')/Datastreams"))).toEqual(['lp-n1:activePower', 'lp-n1:supplyVoltage'])
    expect(ids(await ok('portal', "/Sensors('lamp-post')/Datastreams"))).toEqual(['lp-n1:activePower', 'lp-n1:supplyVoltage', 'lp-n2:activePower', 'lp-n2:supplyVoltage'])
    expect(ids(await ok('portal', "/ObservedProperties('lamp-post:activePower')/Datastreams"))).toEqual(['lp-n1:activePower', 'lp-n2:activePower'])
    expect(ids(await ok('portal', "/Datastreams('lp-n1:activePower')/Observations"))).toEqual([obsId('lp-n1', 'activePower', 0), obsId('lp-n1', 'activePower', 1)])
    expect(ids(await ok('portal', "/FeaturesOfInterest('lp-n1')/Observations"))).toEqual(PORTAL_FIELDS.flatMap((f) => [obsId('lp-n1', f, 0), obsId('lp-n1', f, 1)]).sort())
    const observation = `/Observations('${obsId('lp-n1', 'activePower')}')`
    expect((await ok('portal', `${observation}/FeatureOfInterest`)).feature).toEqual(coarse)
    expect((await ok('portal', `${observation}/Datastream/Thing/Locations`)).value).toMatchObject([{ location: coarse }])
    expect((await ok('portal', "/Datastreams('lp-n1:activePower')/Thing/Locations")).value).toMatchObject([{ location: coarse }])

    expect((await ok('portal', '/Things/$ref')).value).toEqual([{ '@iot.selfLink': `${sta}/Things('lp-n1')` }, { '@iot.selfLink': `${sta}/Things('lp-n2')` }])
    expect(((await ok('portal', "/Things('lp-n1')/Datastreams/$ref")).value as Json[]).map((l) => l['@iot.selfLink'])).toEqual([
      `${sta}/Datastreams('lp-n1:supplyVoltage')`, `${sta}/Datastreams('lp-n1:activePower')`,
    ])
    expect(((await ok('portal', '/Datastreams/$ref')).value as Json[])).toHaveLength(4)

    const things = (await ok('portal', `/Things?$expand=${encodeURIComponent('Locations,Datastreams($expand=Observations($expand=FeatureOfInterest))')}`)).value as Json[]
    expect(things.map((t) => t.name)).toEqual(['lp-n1', 'lp-n2'])
    const first = things[0]!
    expect(first.Locations).toMatchObject([{ location: coarse }])
    const streams = first.Datastreams as Json[]
    expect(streams.map((d) => d['@iot.id']).sort()).toEqual(['lp-n1:activePower', 'lp-n1:supplyVoltage'])
    for (const stream of streams) {
      const observations = stream.Observations as Json[]
      expect(observations).toHaveLength(2)
      for (const o of observations) expect((o.FeatureOfInterest as Json).feature).toEqual(coarse)
    }
    const deep = (await ok('portal', `/Datastreams?$expand=${encodeURIComponent('Thing($expand=Locations),Observations($expand=FeatureOfInterest)')}`)).value as Json[]
    expect(deep).toHaveLength(4)
    expect(deep.flatMap((d) => d.Observations as Json[]).map((o) => o['@iot.id'])).toHaveLength(8)
    expect(((await ok('portal', `/Sensors?$expand=${encodeURIComponent('Datastreams')}`)).value as Json[])[0]?.Datastreams).toHaveLength(4)

    expect((await ok('portal', '/Locations?$select=location')).value).toEqual([{ location: coarse }, { location: { type: 'Point', coordinates: [coarsen(DEVICES[1].lat, DEVICES[1].lon).lon, coarsen(DEVICES[1].lat, DEVICES[1].lon).lat] } }])
    expect((await ok('portal', '/FeaturesOfInterest?$select=feature')).value).toHaveLength(2)
    expect((await ok('portal', "/Things('lp-n1')?$select=id,Locations&$expand=Locations($select=location)")).Locations).toEqual([{ location: coarse }])
  })

  it('counts and pages only what the scope sees', async () => {
    const counts: [string, number][] = [
      ['/Things', 2], ['/Locations', 2], ['/HistoricalLocations', 2], ['/FeaturesOfInterest', 2], ['/Sensors', 1],
      ['/ObservedProperties', 2], ['/Datastreams', 4], ["/Things('lp-n1')/Datastreams", 2],
      ["/Datastreams('lp-n1:activePower')/Observations", 2], ["/FeaturesOfInterest('lp-n1')/Observations", 4],
    ]
    for (const [path, count] of counts) {
      const body = await ok('portal', `${path}?$count=true&$top=0`)
      expect(body['@iot.count'], path).toBe(count)
      expect(body.value).toEqual([])
    }
    const expanded = await ok('portal', `/Things('lp-n1')?$expand=${encodeURIComponent('Datastreams($count=true;$top=1)')}`)
    expect(expanded['Datastreams@iot.count']).toBe(2)
    expect(expanded['Datastreams@iot.nextLink']).toBeDefined()
    expect((await ok('blind', '/Locations?$count=true'))['@iot.count']).toBe(0)
    expect((await ok('blind', '/FeaturesOfInterest?$count=true'))['@iot.count']).toBe(0)
    expect((await ok('exact', '/Things?$count=true'))['@iot.count']).toBe(3)

    // Every page, by @iot.nextLink, bounded.
    for (const [path, expected] of [['/Things?$top=1', 2], ['/Datastreams?$top=1', 4], ['/Observations?$top=3', 8], ["/FeaturesOfInterest('lp-n2')/Observations?$top=1", 4], ['/Locations/$ref?$top=1', 2]] as const) {
      const seen: string[] = []
      let next: string | undefined = path
      for (let page = 0; next !== undefined && page < 20; page++) {
        const body: Json = await ok('portal', next)
        for (const e of body.value as Json[]) seen.push((e['@iot.id'] ?? e['@iot.selfLink']) as string)
        next = body['@iot.nextLink'] as string | undefined
      }
      expect(next, path).toBeUndefined()
      expect(new Set(seen).size, path).toBe(expected)
      for (const id of seen) expect(id, path).not.toMatch(/lp-s1|wp-n1|commandedLevel/)
    }
  })

  it('lets no $filter reveal an exact point, a hidden field or a hidden Thing', async () => {
    const exactPoint = point(LP_N1.lon, LP_N1.lat)
    const coarsePoint = point(LP_N1_COARSE.lon, LP_N1_COARSE.lat)
    // What the coarse point itself would answer: as far from the exact point as the cell centre is.
    const nearCentre = planarDistance(LP_N1, LP_N1_COARSE) < 0.00001 ? ['lp-n1'] : []
    expect(nearCentre).toEqual([])
    const oracles: [string, string, string[]][] = [
      ['/Locations', `geo.distance(location, ${exactPoint}) lt 0.00001`, nearCentre],
      ['/Locations', `st_within(location, ${tinySquare(LP_N1.lon, LP_N1.lat)})`, nearCentre],
      ['/Locations', `st_intersects(location, ${tinySquare(LP_N1.lon, LP_N1.lat)})`, nearCentre],
      ['/Locations', `st_equals(location, ${exactPoint})`, nearCentre],
      ['/FeaturesOfInterest', `geo.distance(feature, ${exactPoint}) lt 0.00001`, nearCentre],
      ['/FeaturesOfInterest', `st_within(feature, ${tinySquare(LP_N1.lon, LP_N1.lat)})`, nearCentre],
      ['/Locations', `geo.distance(location, ${coarsePoint}) lt 0.00001`, ['lp-n1']],
      ['/Locations', `st_within(location, ${tinySquare(LP_N1_COARSE.lon, LP_N1_COARSE.lat)})`, ['lp-n1']],
    ]
    for (const [set, expr, expected] of oracles) {
      expect(ids(await ok('portal', `${set}?${filter(expr)}`)), `${set} ${expr}`).toEqual(expected)
      // The exact consumer is answered at the exact point: the same filter does find it there.
      if (expr.includes(String(LP_N1.lat))) expect(ids(await ok('exact', `${set}?${filter(expr)}`)), `exact ${set} ${expr}`).toEqual(['lp-n1'])
    }
    const viaFeature = `geo.distance(FeatureOfInterest/feature, ${exactPoint}) lt 0.00001`
    expect(ids(await ok('portal', `/Observations?${filter(viaFeature)}`))).toEqual([])
    expect(ids(await ok('exact', `/Observations?${filter(viaFeature)}`))).toHaveLength(6)
    expect(ids(await ok('portal', `/Observations?${filter(`geo.distance(FeatureOfInterest/feature, ${coarsePoint}) lt 0.00001`)}`))).toHaveLength(4)
    // A location-less consumer matches nothing by place, however wide the area.
    const city = "geography'POLYGON((4 52, 6 52, 6 53, 4 53, 4 52))'"
    expect(ids(await ok('blind', `/Locations?${filter(`st_within(location, ${city})`)}`))).toEqual([])
    expect(ids(await ok('blind', `/Observations?$top=1000&${filter(`st_within(FeatureOfInterest/feature, ${city})`)}`))).toEqual([])
    expect(ids(await ok('blind', `/Observations?$top=1000&${filter(`geo.distance(FeatureOfInterest/feature, ${exactPoint}) lt 1`)}`))).toEqual([])

    const nothing: [string, string][] = [
      ['/Observations', "Datastream/properties/field eq 'commandedLevel'"],
      ['/Observations', `result eq ${HIDDEN_LEVEL}`],
      ['/Observations', "Datastream/Thing/properties/district eq 'south'"],
      ['/Observations', "Datastream/Thing/properties/kind eq 'water-pipe'"],
      ['/Observations', "Datastream/Thing/name eq 'lp-s1'"],
      ['/Observations', "substringof('commandedLevel', Datastream/name) or substringof('Commanded', Datastream/name)"],
      ['/Datastreams', "properties/field eq 'commandedLevel'"],
      ['/Datastreams', "Thing/properties/district eq 'south'"],
      ['/Datastreams', "ObservedProperty/properties/field eq 'commandedLevel'"],
      ['/ObservedProperties', "properties/field eq 'commandedLevel'"],
      ['/Things', "properties/district eq 'south' or properties/kind eq 'water-pipe'"],
      ['/Things', "name eq 'lp-s1' or name eq 'wp-n1'"],
      ['/Locations', "name eq 'Location of lp-s1'"],
      ['/Sensors', "name eq 'water-pipe'"],
    ]
    for (const [set, expr] of nothing) {
      const body = await ok('portal', `${set}?$count=true&${filter(expr)}`.replace('/Observations?$count=true&', '/Observations?$top=1000&'))
      expect(body.value, `${set} ${expr}`).toEqual([])
      if ('@iot.count' in body) expect(body['@iot.count'], `${set} ${expr}`).toBe(0)
    }
    // Hidden devices do not show through $filter on a visible Datastream's Observations either.
    expect(ids(await ok('portal', `/Datastreams('lp-n1:activePower')/Observations?${filter(`result eq ${HIDDEN_LEVEL}`)}&$count=true`))).toEqual([])
    // The same filters do find what the exact consumer may see (the checks above can fail).
    expect(ids(await ok('exact', `/Observations?${filter(`result eq ${HIDDEN_LEVEL}`)}`))).toHaveLength(4)
  })

  it('gives a location-less consumer no Location, FeatureOfInterest or coordinate anywhere', async () => {
    expect(ids(await ok('blind', '/Things'))).toEqual(['lp-n1', 'lp-n2', 'lp-s1', 'wp-n1'])
    for (const set of ['/Locations', '/HistoricalLocations', '/FeaturesOfInterest', "/Things('lp-n1')/Locations", "/Things('lp-n1')/HistoricalLocations"]) {
      expect((await ok('blind', set)).value, set).toEqual([])
    }
    await notFound('blind', "/Locations('lp-n1')")
    await notFound('blind', "/Locations('lp-n1')/location/$value")
    await notFound('blind', "/FeaturesOfInterest('lp-n1')")
    await notFound('blind', `/Observations('${obsId('lp-n1', 'activePower')}')/FeatureOfInterest`)
    expect((await ok('blind', `/Observations('${obsId('lp-n1', 'activePower')}')/Datastream/Thing/Locations`)).value).toEqual([])
    const things = (await ok('blind', `/Things?$expand=${encodeURIComponent('Locations,HistoricalLocations,Datastreams($expand=Observations($expand=FeatureOfInterest))')}`)).value as Json[]
    expect(things).toHaveLength(4)
    for (const t of things) {
      expect(t.Locations).toEqual([])
      for (const o of (t.Datastreams as Json[]).flatMap((d) => d.Observations as Json[])) expect(o.FeatureOfInterest).toBeNull()
    }
    expect(ids(await ok('blind', '/Observations?$top=1000'))).toHaveLength(22)
  })

  it('keeps deeper paths, keys spelled otherwise, $orderby and 501 answers within the scope', async () => {
    const o = obsId('lp-n1', 'activePower')
    const coarse = { type: 'Point', coordinates: [LP_N1_COARSE.lon, LP_N1_COARSE.lat] }
    const coarseAt: [string, (body: Json) => unknown][] = [
      ["/Things('lp-n1')/Locations('lp-n1')/location", (b) => b.location],
      [`/Datastreams('lp-n1:activePower')/Observations('${o}')/FeatureOfInterest`, (b) => b.feature],
      ["/Datastreams('lp-n1:activePower')/Thing/HistoricalLocations('lp-n1')/Locations", (b) => (b.value as Json[])[0]?.location],
      ["/HistoricalLocations('lp-n1')/Thing/Locations", (b) => (b.value as Json[])[0]?.location],
      ["/HistoricalLocations('lp-n1')/Locations", (b) => (b.value as Json[])[0]?.location],
    ]
    for (const [path, pick] of coarseAt) {
      expect(pick(await ok('portal', path)), path).toEqual(coarse)
      await notFound('blind', path)
    }
    expect(ids(await ok('portal', `/Observations('${o}')/FeatureOfInterest/Observations`))).toEqual(PORTAL_FIELDS.flatMap((f) => [obsId('lp-n1', f, 0), obsId('lp-n1', f, 1)]).sort())
    // Keys percent-encoded or unquoted address the same entities, hidden ones included.
    for (const path of ["/Datastreams('lp-n1%3AcommandedLevel')", '/Datastreams(%27lp-n1:commandedLevel%27)', '/Things(lp-s1)', "/Things('lp%2Ds1')"]) {
      await notFound('portal', path)
    }
    expect((await ok('blind', '/Things(lp-s1)')).name).toBe('lp-s1')
    // Ids in a $filter reveal nothing either.
    for (const expr of ["Datastream/@iot.id eq 'lp-n1:commandedLevel'", `id eq '${obsId('lp-n1', 'commandedLevel')}'`, "Datastream/Thing/id eq 'lp-s1'"]) {
      expect((await ok('portal', `/Observations?${filter(expr)}`)).value, expr).toEqual([])
    }
    // Ordering by the distance to the exact point orders by the coarse points.
    const ordered = await ok('portal', `/Locations?$orderby=${encodeURIComponent(`geo.distance(location, ${point(LP_N1.lon, LP_N1.lat)})`)}`)
    expect(ids(ordered)).toEqual(['lp-n1', 'lp-n2'])
    expect((await ok('blind', `/Locations?$orderby=${encodeURIComponent(`geo.distance(location, ${point(LP_N1.lon, LP_N1.lat)})`)}`)).value).toEqual([])
    // What is not implemented says so without data.
    for (const path of ["/Locations('lp-n1')/location/coordinates", `/Locations?$select=${encodeURIComponent('location/coordinates')}`, '/Observations?$resultFormat=dataArray']) {
      expect((await get('portal', path)).status, path).toBe(501)
    }
    const expanded = await ok('portal', `/Observations?$expand=${encodeURIComponent('Datastream($expand=Thing($expand=Locations,HistoricalLocations($expand=Locations)))')}`)
    expect((expanded.value as Json[]).map((e) => ((e.Datastream as Json).Thing as Json).name)).not.toContain('lp-s1')
  })

  it('shows the exact consumer exact points (the number check finds them where they are served)', async () => {
    const answer = await get('exact', "/Locations('lp-n1')/location")
    expect(JSON.parse(answer.text)).toEqual({ location: { type: 'Point', coordinates: [LP_N1.lon, LP_N1.lat] } })
    expect(numbersIn(answer.text).some((n) => EXACT.has(n))).toBe(true)
    expect(ids(await ok('exact', '/Things'))).toEqual(['lp-n1', 'lp-n2', 'wp-n1'])
  })

  it('delivers over MQTT only the Observations the consumer sees, refuses the rest and closes on publish', async () => {
    const connect = async (who: Consumer, n: number): Promise<MqttClient> => {
      const client = await connectClient(gw.mqttUrl, { clientId: `${who}-${n}`, username: who, password: tokens[who] })
      clients.push(client)
      return client
    }
    const probe = await connect('portal', 0)
    expect(await subscribeCodes(probe, [
      'v1.1/#', 'v1.1/+/Observations', '#', '+/Observations', 'v1.1/Observations/#', '$share/g/v1.1/Observations', 'v1.1/Datastreams(\'lp-n1:activePower\')/#',
      "v1.1/Datastreams('lp-n1:commandedLevel')/Observations", "v1.1/Datastreams('lp-s1:activePower')/Observations",
      "v1.1/Datastreams('wp-n1:pressure')/Observations", "v1.1/Datastreams('lp-n2:supplyVoltage')/Observations",
    ])).toEqual([128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 1])
    const all = await collect(await connect('portal', 1), 'v1.1/Observations')
    const one = await collect(await connect('portal', 2), "v1.1/Datastreams('lp-n1:activePower')/Observations")
    const blind = await collect(await connect('blind', 3), 'v1.1/Observations')
    expect([all.granted[0]?.qos, one.granted[0]?.qos, blind.granted[0]?.qos]).toEqual([1, 1, 1])

    const at = Date.now() - 1000
    // lp-n1 last: once its Observations arrived, everything published before them was delivered or dropped.
    for (const d of [...DEVICES.slice(1), LP_N1]) {
      const device = await connectDevice(gw.mqttUrl, d.id, secrets[d.id]!)
      clients.push(device)
      const reading = d.kind === 'lamp-post' ? { ts: at, commandedLevel: HIDDEN_LEVEL, supplyVoltage: 230.5, activePower: 40.5 } : { ts: at, pressure: 399.5, flowRate: 2 }
      await device.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(reading), { qos: 1 })
    }
    await one.waitFor(1)
    // lp-n2 and lp-n1, two fields each; the blind consumer: 4 devices' fields (3 + 3 + 2 + 3).
    await eventually(() => Promise.resolve(all.messages), (m) => m.some((x) => x.payload.toString().includes(`lp-n1:activePower:${at}`)) && m.some((x) => x.payload.toString().includes(`lp-n1:supplyVoltage:${at}`)), { what: 'lp-n1 on v1.1/Observations', timeoutMs: 5000 })
    await eventually(() => Promise.resolve(blind.messages), (m) => m.filter((x) => x.payload.toString().includes(`"lp-n1:`)).length === 3, { what: 'lp-n1 to the blind consumer', timeoutMs: 5000 })
    const idsOf = (messages: { payload: Buffer }[]): string[] => messages.map((m) => (JSON.parse(m.payload.toString()) as Json)['@iot.id'] as string).sort()
    expect(idsOf(all.messages)).toEqual(['lp-n1', 'lp-n2'].flatMap((d) => PORTAL_FIELDS.map((f) => `${d}:${f}:${at}`)).sort())
    expect(idsOf(one.messages)).toEqual([`lp-n1:activePower:${at}`])
    expect(idsOf(blind.messages)).toHaveLength(11)
    for (const m of [...all.messages, ...one.messages, ...blind.messages]) {
      for (const n of numbersIn(m.payload.toString())) expect(EXACT.has(n) || COARSE.has(n), `${n} in ${m.topic}`).toBe(false)
    }

    for (const who of ['portal', 'blind'] as const) {
      const publisher = await connect(who, 10)
      publisher.on('error', () => { /* the refusal closes the connection */ })
      const closed = new Promise<void>((resolve) => publisher.once('close', () => resolve()))
      publisher.publish("v1.1/Datastreams('lp-n1:activePower')/Observations", '{"result":1}', { qos: 1 })
      await closed
    }
  })

  it('delivers to mosquitto_sub only what the consumer sees', async () => {
    const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(gw.gateway.ports.mqtt), '-i', 'portal-mosq', '-u', 'portal', '-P', tokens.portal,
      '-V', 'mqttv311', '-q', '1', '-t', 'v1.1/Observations', '-C', '2', '-W', '15', '-d'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    sub.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    const exited = new Promise<number | null>((resolve) => sub.on('exit', resolve))
    const at = Date.now() - 500
    try {
      await eventually(() => Promise.resolve(out), (text) => text.includes('SUBACK'), { what: 'mosquitto_sub subscribed', timeoutMs: 10_000 })
      // Hidden first: had any of them leaked, it would be among the two messages mosquitto_sub waits for.
      for (const id of ['lp-s1', 'wp-n1', 'lp-n1']) {
        const device = await connectDevice(gw.mqttUrl, id, secrets[id]!)
        clients.push(device)
        const reading = id === 'wp-n1' ? { ts: at, pressure: 398.5 } : { ts: at, commandedLevel: HIDDEN_LEVEL, supplyVoltage: 229.5, activePower: 39.5 }
        await device.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
      }
      expect(await exited).toBe(0)
    } finally {
      sub.kill()
    }
    const payloads = out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Json)
    expect(payloads.map((p) => p['@iot.id']).sort()).toEqual([`lp-n1:activePower:${at}`, `lp-n1:supplyVoltage:${at}`])
  })

  it('hides readings a visible device recorded while it was in another district', async () => {
    // lp-n1 once stood in the south (removed and added again under the same id): its readings of then carry district=south.
    const then = ts + 500
    const res = await fetch(`${influx.url}/write?db=city&precision=ms`, { method: 'POST', body: `lamp_post,device_id=lp-n1,district=south activePower=13.5,commandedLevel=5i ${then}` })
    expect(res.status).toBe(204)
    const old = obsId('lp-n1', 'activePower').replace(String(ts), String(then))
    // Two readings at the start, one per MQTT test, and the south one: all in InfluxDB before comparing counts.
    await eventually(async () => ids(await ok('blind', "/Datastreams('lp-n1:activePower')/Observations")), (list) => list.includes(old) && list.length === 5, { what: 'lp-n1\'s readings in InfluxDB' })
    for (const who of ['portal', 'exact'] as const) {
      await notFound(who, `/Observations('${old}')`)
      expect(ids(await ok(who, '/Observations?$top=1000')), who).not.toContain(old)
      expect(ids(await ok(who, "/Datastreams('lp-n1:activePower')/Observations")), who).not.toContain(old)
      expect(ids(await ok(who, "/FeaturesOfInterest('lp-n1')/Observations?$top=1000")), who).not.toContain(old)
      const counted = await ok(who, "/Datastreams('lp-n1:activePower')/Observations?$count=true&$top=1000")
      expect(counted['@iot.count'], who).toBe((counted.value as Json[]).length)
      const expanded = await ok(who, `/Things('lp-n1')?$expand=${encodeURIComponent('Datastreams($expand=Observations($top=1000))')}`)
      expect((expanded.Datastreams as Json[]).flatMap((d) => (d.Observations as Json[]).map((o) => o['@iot.id'])), who).not.toContain(old)
    }
  })

  it('leaves one access point per consumer SensorThings request, with route and rows', async () => {
    expect(ids(await ok('portal', '/Things?$orderby=name'))).toEqual(['lp-n1', 'lp-n2'])
    await notFound('portal', "/Things('lp-s1')?$select=name")
    type Row = [number, string, string, string, number | null, number]
    async function accessRows (consumer: string): Promise<Row[]> {
      const [result] = await influx.query(`SELECT "consumer", "query", "route", "rows", "status" FROM "access" WHERE "consumer" = '${consumer}'`, 'city')
      return (result?.series?.[0]?.values ?? []) as Row[]
    }
    for (const who of ['portal', 'blind', 'exact'] as const) {
      const rows = await eventually(() => accessRows(who), (r) => r.length >= requests[who], { what: `${who}'s access points`, timeoutMs: 30_000 })
      expect(rows.length, who).toBe(requests[who])
      for (const row of rows) expect(row[3], who).toMatch(/^\/sta\/v1\.1/)
      for (const row of rows.filter((r) => r[5] === 200)) expect(row[4], `${who} ${row[2]}`).toEqual(expect.any(Number))
    }
    const portal = await accessRows('portal')
    expect(portal.find((r) => r[2] === '$orderby=name')?.slice(3)).toEqual(['/sta/v1.1/*', 2, 200])
    expect(portal.find((r) => r[2] === '$select=name')?.slice(3)).toEqual(['/sta/v1.1/*', null, 404])
  }, 60_000)
})
