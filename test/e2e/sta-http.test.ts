// The SensorThings API over HTTP against a real gateway and a real InfluxDB 1.x: the spec's
// example requests adapted to our entities (service root, entity, collection, navigation, property,
// $value, $ref), every query option, $filter on Observations translated to InfluxQL, paging 3000
// Observations by @iot.nextLink each exactly once, a crew limited to its districts, errors.
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice, addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic, getJson } from '../helpers/api-client.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

type Json = Record<string, unknown>
const OM = 'http://www.opengis.net/def/observationType/OGC-OM/2.0/'

describe('SensorThings API over HTTP', () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let lamp: MqttClient | undefined
  let ops: Record<string, string>
  let north: Record<string, string>
  let sta: string
  const secrets: Record<string, string> = {}
  /** 3000 readings of lamp-001, one a second, ending a minute ago. */
  const pagedStartMs = Math.floor(Date.now() / 1000) * 1000 - 3060_000
  const PAGED = 3000

  async function get (path: string, headers = ops): Promise<{ status: number; body: Json }> {
    return getJson(path.startsWith('http') ? path : `${sta}${path}`, headers)
  }

  beforeAll(async () => {
    influx = await startInfluxDb1()
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city' } })
    sta = `${gw.httpUrl}/sta/v1.1`
    const file = registryPath(gw.dataDir)
    secrets['lamp-001'] = (await addDevice(file, { id: 'lamp-001', kind: 'lamp-post', district: 'north', lat: 53.55, lon: 9.99, group: 'feeder-7' })).secret
    secrets['pipe-002'] = (await addDevice(file, { id: 'pipe-002', kind: 'water-pipe', district: 'south', lat: 53.5, lon: 10.1 })).secret
    secrets['hole-003'] = (await addDevice(file, { id: 'hole-003', kind: 'manhole', district: 'north' })).secret
    north = basic('crew-north', (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret)
    ops = basic('ops', (await addOperator(file, 'ops')).secret)
    await gw.gateway.reloadRegistry()

    // Readings straight into InfluxDB (the gateway's own schema: measurement per kind, tags device_id, district).
    const lines: string[] = []
    for (let i = 0; i < PAGED; i++) lines.push(`lamp_post,device_id=lamp-001,district=north activePower=${i % 200},commandedLevel=${i % 100}i,doorOpen=${i % 2 === 0} ${pagedStartMs + i * 1000}`)
    lines.push(`water_pipe,device_id=pipe-002,district=south pressure=412.5 ${pagedStartMs}`)
    // A device no longer in the registry: its readings are not anyone's Observations.
    lines.push(`lamp_post,device_id=gone-9,district=north activePower=1 ${pagedStartMs}`)
    const res = await fetch(`${influx.url}/write?db=city&precision=ms`, { method: 'POST', body: lines.join('\n') })
    expect(res.status).toBe(204)
  })
  afterAll(async () => {
    await lamp?.endAsync(true)
    await gw?.close(true)
    await influx?.close()
  })

  it('answers the service root with the entity sets and serverSettings', async () => {
    const { status, body } = await get('')
    expect(status).toBe(200)
    expect((body.value as Json[]).map((v) => v.name)).toEqual(['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations', 'FeaturesOfInterest'])
    expect((body.value as Json[])[0]).toEqual({ name: 'Things', url: `${sta}/Things` })
    const settings = body.serverSettings as Json
    expect(settings.conformance).toContain('http://www.opengis.net/spec/iot_sensing/1.1/req/request-data')
    expect(settings['http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates']).toEqual({ endpoints: [`mqtt://127.0.0.1:${gw.gateway.ports.mqtt}`] })
    expect((await getJson(`${sta}/Things`)).status).toBe(401)
  })

  it('serves a Thing with its links, and navigates as the spec\'s examples do', async () => {
    const { status, body } = await get('/Things(\'lamp-001\')')
    expect(status).toBe(200)
    expect(body).toEqual({
      '@iot.id': 'lamp-001',
      '@iot.selfLink': `${sta}/Things('lamp-001')`,
      name: 'lamp-001',
      description: 'lamp-post lamp-001 in district north',
      properties: { kind: 'lamp-post', district: 'north', group: 'feeder-7' },
      'Locations@iot.navigationLink': `${sta}/Things('lamp-001')/Locations`,
      'HistoricalLocations@iot.navigationLink': `${sta}/Things('lamp-001')/HistoricalLocations`,
      'Datastreams@iot.navigationLink': `${sta}/Things('lamp-001')/Datastreams`,
    })
    const locations = (await get('/Things(\'lamp-001\')/Locations')).body
    expect(locations.value).toEqual([expect.objectContaining({ '@iot.id': 'lamp-001', encodingType: 'application/geo+json', location: { type: 'Point', coordinates: [9.99, 53.55] } })])
    const datastream = (await get('/Datastreams(\'lamp-001:activePower\')')).body
    expect(datastream).toMatchObject({
      '@iot.id': 'lamp-001:activePower',
      unitOfMeasurement: { name: 'watt', symbol: 'W', definition: 'http://unitsofmeasure.org/ucum.html#W' },
      observationType: `${OM}OM_Measurement`,
      'Observations@iot.navigationLink': `${sta}/Datastreams('lamp-001:activePower')/Observations`,
    })
    expect((await get('/Datastreams(\'lamp-001:commandedLevel\')')).body.observationType).toBe(`${OM}OM_CountObservation`)
    expect((await get('/Datastreams(\'lamp-001:doorOpen\')')).body.observationType).toBe(`${OM}OM_TruthObservation`)
    expect((await get('/Datastreams(\'lamp-001:activePower\')/Sensor')).body).toMatchObject({ '@iot.id': 'lamp-post', name: 'lamp-post' })
    expect((await get('/Datastreams(\'lamp-001:activePower\')/ObservedProperty')).body).toMatchObject({ '@iot.id': 'lamp-post:activePower', name: 'Active power', description: 'Active power drawn' })
    expect((await get('/Datastreams(\'lamp-001:activePower\')/Thing/Locations(\'lamp-001\')')).status).toBe(200)
    expect((await get('/Things(\'lamp-001\')/name')).body).toEqual({ name: 'lamp-001' })
    const value = await fetch(`${sta}/Things('lamp-001')/name/$value`, { headers: ops })
    expect(await value.text()).toBe('lamp-001')
    expect((await get('/Things(\'lamp-001\')/Datastreams/$ref?$top=2')).body).toMatchObject({ value: [{ '@iot.selfLink': `${sta}/Datastreams('lamp-001:commandedLevel')` }, { '@iot.selfLink': `${sta}/Datastreams('lamp-001:actualLevel')` }] })
    // hole-003 has no coordinates: no Location, no FeatureOfInterest.
    expect((await get('/Things(\'hole-003\')/Locations')).body.value).toEqual([])
    expect((await get('/Things(\'nope\')')).status).toBe(404)
    expect((await get('/Things(\'lamp-001\')/colour')).status).toBe(404)
    expect((await get('/Gadgets')).status).toBe(404)
  })

  it('applies $top, $skip, $count, $orderby, $select and nested $expand', async () => {
    const page = (await get('/Things?$top=2&$count=true&$orderby=name desc')).body
    expect(page['@iot.count']).toBe(3)
    expect((page.value as Json[]).map((t) => t['@iot.id'])).toEqual(['pipe-002', 'lamp-001'])
    expect(page['@iot.nextLink']).toBe(`${sta}/Things?$top=2&$count=true&$orderby=name%20desc&$skip=2`)
    expect(((await get(page['@iot.nextLink'] as string)).body.value as Json[]).map((t) => t['@iot.id'])).toEqual(['hole-003'])
    expect(((await get('/Things?$skip=1&$top=1')).body.value as Json[]).map((t) => t['@iot.id'])).toEqual(['lamp-001'])
    expect((await get('/Things?$top=0&$count=true')).body).toEqual({ '@iot.count': 3, value: [] })
    expect(((await get('/Things?$orderby=properties/district,name desc')).body.value as Json[]).map((t) => t['@iot.id'])).toEqual(['lamp-001', 'hole-003', 'pipe-002'])
    expect((await get('/Things?$select=id,name&$top=1')).body.value).toEqual([{ '@iot.id': 'hole-003', name: 'hole-003' }])

    const expanded = (await get('/Things(\'lamp-001\')?$select=name&$expand=Datastreams($select=name;$filter=properties/field eq \'activePower\';$expand=Observations($top=3;$orderby=phenomenonTime desc;$select=result,phenomenonTime))')).body
    expect(expanded.name).toBe('lamp-001')
    const [ds] = expanded.Datastreams as Json[]
    expect(ds).toMatchObject({ name: 'Active power of lamp-001' })
    expect(ds?.Observations).toEqual([2999, 2998, 2997].map((i) => ({ result: i % 200, phenomenonTime: new Date(pagedStartMs + i * 1000).toISOString() })))
    expect(ds?.['Observations@iot.nextLink']).toMatch(/^http.*Datastreams\('lamp-001:activePower'\)\/Observations\?.*\$skiptoken=/)
    const byPath = (await get('/Things(\'pipe-002\')?$expand=Datastreams/ObservedProperty,Locations')).body
    expect((byPath.Datastreams as Json[])[0]?.ObservedProperty).toMatchObject({ '@iot.id': 'water-pipe:pressure' })
    expect((byPath.Locations as Json[]).length).toBe(1)
    const counted = (await get('/Things?$expand=Datastreams($count=true;$top=1)&$filter=name eq \'lamp-001\'')).body
    expect((counted.value as Json[])[0]?.['Datastreams@iot.count']).toBe(16)
  })

  it('filters registry entities with comparisons, logic, arithmetic, string, math and spatial functions', async () => {
    async function ids (filter: string, set = 'Things'): Promise<unknown[]> {
      const { status, body } = await get(`/${set}?$filter=${encodeURIComponent(filter)}`)
      expect(status, JSON.stringify(body)).toBe(200)
      return (body.value as Json[]).map((e) => e['@iot.id'])
    }
    expect(await ids('properties/district eq \'north\'')).toEqual(['hole-003', 'lamp-001'])
    expect(await ids('properties/district ne \'north\' or startswith(name, \'hole\')')).toEqual(['hole-003', 'pipe-002'])
    expect(await ids('not (properties/district eq \'north\') and length(name) eq 8')).toEqual(['pipe-002'])
    expect(await ids('substringof(\'amp\', name) and endswith(name, \'001\') and contains(name, \'-0\')')).toEqual(['lamp-001'])
    expect(await ids('indexof(name, \'-\') eq 4 and substring(name, 5) eq \'002\' and tolower(toupper(name)) eq name and trim(concat(\' \', name)) eq name')).toEqual(['pipe-002'])
    expect(await ids('st_within(location, geography\'POLYGON((9.9 53.5, 10.0 53.5, 10.0 53.6, 9.9 53.6, 9.9 53.5))\')', 'Locations')).toEqual(['lamp-001'])
    expect(await ids('st_intersects(feature, geography\'POLYGON((10 53, 11 53, 11 54, 10 54, 10 53))\')', 'FeaturesOfInterest')).toEqual(['pipe-002'])
    expect(await ids('geo.distance(location, geography\'POINT(10.1 53.5)\') lt 0.01', 'Locations')).toEqual(['pipe-002'])
    expect(await ids('geo.length(geography\'LINESTRING(0 0, 3 4)\') eq 5 and round(2.4) eq 2 and floor(2.6) eq 2 and ceiling(2.1) eq 3 and 7 mod 4 eq 3 and 2 add 3 mul 2 eq 8 and (2 add 3) mul 2 eq 10 and 9 div 3 sub 1 eq 2')).toEqual(['hole-003', 'lamp-001', 'pipe-002'])
    expect(await ids('year(time) ge 2020 and time lt now() and time gt mindatetime() and time lt maxdatetime() and month(time) ge 1 and day(time) ge 1 and hour(time) ge 0 and minute(time) ge 0 and second(time) ge 0 and date(time) le date(now())', 'HistoricalLocations')).toEqual(['lamp-001', 'pipe-002'])
    expect(await ids('Thing/properties/district eq \'south\' and (properties/field eq \'pressure\' or properties/field eq \'rssi\')', 'Datastreams')).toEqual(['pipe-002:pressure', 'pipe-002:rssi'])
    expect(await ids('unitOfMeasurement/symbol eq \'kPa\'', 'Datastreams')).toEqual(expect.arrayContaining(['pipe-002:pressure']))
  })

  it('filters and orders Observations, with time and result comparisons in InfluxQL', async () => {
    const from = new Date(pagedStartMs + 100_000).toISOString()
    const to = new Date(pagedStartMs + 110_000).toISOString()
    const { status, body } = await get(`/Datastreams('lamp-001:activePower')/Observations?$filter=${encodeURIComponent(`phenomenonTime ge ${from} and phenomenonTime lt ${to} and result gt 103`)}&$count=true`)
    expect(status, JSON.stringify(body)).toBe(200)
    expect(body['@iot.count']).toBe(6)
    expect((body.value as Json[]).map((o) => o.result)).toEqual([104, 105, 106, 107, 108, 109])
    expect((body.value as Json[])[0]).toEqual({
      '@iot.id': `lamp-001:activePower:${pagedStartMs + 104_000}`,
      '@iot.selfLink': `${sta}/Observations('lamp-001:activePower:${pagedStartMs + 104_000}')`,
      phenomenonTime: new Date(pagedStartMs + 104_000).toISOString(),
      resultTime: new Date(pagedStartMs + 104_000).toISOString(),
      result: 104,
      'Datastream@iot.navigationLink': `${sta}/Observations('lamp-001:activePower:${pagedStartMs + 104_000}')/Datastream`,
      'FeatureOfInterest@iot.navigationLink': `${sta}/Observations('lamp-001:activePower:${pagedStartMs + 104_000}')/FeatureOfInterest`,
    })
    const one = await get(`/Observations('lamp-001:activePower:${pagedStartMs + 104_000}')?$expand=Datastream($select=id),FeatureOfInterest($select=feature)`)
    expect(one.body).toMatchObject({ result: 104, Datastream: { '@iot.id': 'lamp-001:activePower' }, FeatureOfInterest: { feature: { type: 'Point', coordinates: [9.99, 53.55] } } })
    expect((await get(`/Observations('lamp-001:activePower:${pagedStartMs + 104_001}')`)).status).toBe(404)
    expect((await get(`/Observations('lamp-001:activePower:${pagedStartMs + 104_000}')/Datastream/Thing/name`)).body).toEqual({ name: 'lamp-001' })
    expect((await get(`/Datastreams('lamp-001:activePower')/Observations('lamp-001:activePower:${pagedStartMs + 104_000}')/result`)).body).toEqual({ result: 104 })
    expect((await get(`/Datastreams('lamp-001:commandedLevel')/Observations('lamp-001:activePower:${pagedStartMs + 104_000}')`)).status).toBe(404)
    const refs = (await get(`/Datastreams(%27lamp-001%3AactivePower%27)/Observations/$ref?$top=1&$filter=${encodeURIComponent(`phenomenonTime ge ${new Date(pagedStartMs).toISOString()}`)}`)).body
    expect(refs.value).toEqual([{ '@iot.selfLink': `${sta}/Observations('lamp-001:activePower:${pagedStartMs}')` }])
    expect(refs['@iot.nextLink']).toMatch(/\/Observations\/\$ref\?\$top=1&\$filter=.*&\$skiptoken=/)
    expect((await get(refs['@iot.nextLink'] as string)).body.value).toEqual([{ '@iot.selfLink': `${sta}/Observations('lamp-001:activePower:${pagedStartMs + 1000}')` }])
    const truths = (await get(`/Datastreams('lamp-001:doorOpen')/Observations?$top=2&$filter=result eq false`)).body
    expect((truths.value as Json[]).map((o) => o.result)).toEqual([false, false])
    // A filter InfluxDB cannot apply is evaluated on each reading; $count then cannot be exact.
    const evens = (await get(`/Datastreams('lamp-001:commandedLevel')/Observations?$top=3&$filter=result mod 2 eq 1 and result add 1 lt 5`)).body
    expect((evens.value as Json[]).map((o) => o.result)).toEqual([1, 3, 1])
    expect((await get(`/Datastreams('lamp-001:commandedLevel')/Observations?$count=true&$filter=result mod 2 eq 1`)).status).toBe(501)
    // All Observations: every visible device and field, never those of unregistered devices.
    const all = (await get(`/Observations?$top=1000&$filter=${encodeURIComponent(`phenomenonTime eq ${new Date(pagedStartMs).toISOString()}`)}`)).body
    expect((all.value as Json[]).map((o) => o['@iot.id'])).toEqual([`lamp-001:activePower:${pagedStartMs}`, `lamp-001:commandedLevel:${pagedStartMs}`, `lamp-001:doorOpen:${pagedStartMs}`, `pipe-002:pressure:${pagedStartMs}`])
    expect((await get('/Observations?$orderby=result')).status).toBe(501)
  })

  it(`pages through ${PAGED} Observations by @iot.nextLink, each exactly once, in both directions`, async () => {
    for (const order of ['asc', 'desc']) {
      const seen: number[] = []
      let link: string | undefined = `${sta}/Datastreams('lamp-001:activePower')/Observations?$top=700&$orderby=phenomenonTime%20${order}&$filter=${encodeURIComponent(`phenomenonTime ge ${new Date(pagedStartMs - 3_600_000).toISOString()}`)}`
      for (let pages = 0; link !== undefined && pages < 20; pages++) {
        const { status, body } = await get(link)
        expect(status, JSON.stringify(body)).toBe(200)
        for (const o of body.value as Json[]) seen.push(Date.parse(o.phenomenonTime as string))
        link = body['@iot.nextLink'] as string | undefined
        if (link !== undefined) expect(link).not.toMatch(/\$skip=/)
      }
      expect(link).toBeUndefined()
      const expected = Array.from({ length: PAGED }, (_, i) => pagedStartMs + i * 1000)
      expect(seen).toEqual(order === 'asc' ? expected : expected.reverse())
    }
    // Three fields of one device interleave at every instant: (time, id) keyset across them.
    const ids: string[] = []
    let link: string | undefined = `${sta}/FeaturesOfInterest('lamp-001')/Observations?$top=1000&$filter=${encodeURIComponent(`phenomenonTime ge ${new Date(pagedStartMs).toISOString()}`)}`
    for (let pages = 0; link !== undefined && pages < 20; pages++) {
      const { body } = await get(link)
      ids.push(...(body.value as Json[]).map((o) => o['@iot.id'] as string))
      link = body['@iot.nextLink'] as string | undefined
    }
    expect(ids.length).toBe(3 * PAGED)
    expect(new Set(ids).size).toBe(3 * PAGED)
  })

  it('limits a crew to its districts: others are 404 and absent from lists, counts and expands', async () => {
    const things = (await get('/Things?$count=true', north)).body
    expect(things['@iot.count']).toBe(2)
    expect((things.value as Json[]).map((t) => t['@iot.id'])).toEqual(['hole-003', 'lamp-001'])
    expect((await get('/Things(\'pipe-002\')', north)).status).toBe(404)
    expect((await get('/Datastreams(\'pipe-002:pressure\')/Observations', north)).status).toBe(404)
    expect((await get(`/Observations('pipe-002:pressure:${pagedStartMs}')`, north)).status).toBe(404)
    const sensors = (await get('/Sensors(\'water-pipe\')?$expand=Datastreams', north)).body
    expect(sensors.Datastreams).toEqual([])
    const all = (await get(`/Observations?$top=1000&$filter=${encodeURIComponent(`phenomenonTime eq ${new Date(pagedStartMs).toISOString()}`)}`, north)).body
    expect((all.value as Json[]).map((o) => o['@iot.id'])).not.toContain(`pipe-002:pressure:${pagedStartMs}`)
  })

  it('answers malformed and unsupported requests with a 4xx/501 naming what is wrong', async () => {
    const cases: [string, number, RegExp][] = [
      ['/Things?$filter=name eq', 400, /operand/],
      ['/Things?$filter=frobnicate(name)', 501, /function frobnicate/],
      ['/Things?$filter=Datastreams/name eq \'x\'', 501, /collection Datastreams/],
      ['/Things?$filter=colour eq \'red\'', 400, /no property colour/],
      ['/Things?$top=-1', 400, /\$top/],
      ['/Things?$top=1&$top=2', 400, /twice/],
      ['/Things?$bogus=1', 400, /unknown query option/],
      ['/Things?$resultFormat=dataArray', 501, /resultFormat/],
      ['/Things?$expand=Gadgets', 400, /no navigation property Gadgets/],
      ['/Things?$select=colour', 400, /colour/],
      ['/Locations?$filter=st_touches(location, geography\'POINT(1 2)\')', 501, /st_touches/],
      ['/Locations?$filter=st_within(location, geography\'MULTIPOINT((1 2))\')', 501, /MULTIPOINT/],
      ['/Things?$filter=name eq duration\'P1D\'', 501, /typed literal/],
      ['/Observations?$filter=phenomenonTime gt 2020-01-01T00:00:00Z', 400, /more than 31 days/],
      ['/Observations?$skiptoken=garbage', 400, /skiptoken/],
      ['/Observations?$count=true', 501, /\$count on all Observations/],
    ]
    for (const [path, status, message] of cases) {
      const res = await get(path)
      expect(res.status, path).toBe(status)
      expect(res.body.message, path).toMatch(message)
    }
  })

  it('serves a reading published over MQTT once the writer stored it', async () => {
    lamp = await connectDevice(gw.mqttUrl, 'lamp-001', secrets['lamp-001']!)
    const ts = Date.now() - 1000
    await lamp.publishAsync('devices/lamp-001/telemetry', JSON.stringify({ ts, commandedLevel: 80, supplyVoltage: 230, activePower: 42.5 }), { qos: 1 })
    const body = await eventually(async () => (await get('/Datastreams(\'lamp-001:activePower\')/Observations?$orderby=phenomenonTime desc&$top=1')).body,
      (b) => (b.value as Json[])[0]?.phenomenonTime === new Date(ts).toISOString(), { what: 'the reading in InfluxDB', timeoutMs: 10_000 })
    expect((body.value as Json[])[0]?.result).toBe(42.5)
  })

  it('lists the routes in /api/openapi.json', async () => {
    const doc = (await get(`${gw.httpUrl}/api/openapi.json`)).body
    expect(Object.keys(doc.paths as Json)).toEqual(expect.arrayContaining(['/sta/v1.1', '/sta/v1.1/{*}']))
  })
})
