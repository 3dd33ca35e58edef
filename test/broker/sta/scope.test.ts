// The SensorThings answers through a ConsumerScope, with a coarse one: hidden districts, kinds and
// fields are 404 and absent from lists, counts and expands; every Location and FeatureOfInterest
// carries the coarse point, and st_within / geo.distance judge that point, never the exact one;
// `none` has no Locations at all; InfluxDB is only asked about what the scope sees.
import { describe, expect, it } from 'vitest'
import type { InfluxQlClient } from '../../../broker/api/influxql.ts'
import { coarsen, type ConsumerScope } from '../../../broker/consumers/scope.ts'
import type { DeviceRecord } from '../../../broker/registry/schema.ts'
import { createObservationReader } from '../../../broker/sta/observation-reader.ts'
import { createRegistryModel } from '../../../broker/sta/registry-model.ts'
import { MAX_OBSERVATION_READS, MAX_READINGS_PER_REQUEST } from '../../../broker/sta/render.ts'
import { serveSta } from '../../../broker/sta/serve.ts'
import { StaError } from '../../../broker/sta/sta-error.ts'

type Json = Record<string, unknown>
const BASE = 'http://gw.example/sta/v1.1'
const NOW = Date.parse('2026-12-01T12:00:00Z')

const devices = new Map<string, DeviceRecord>([
  ['lamp-n', { kind: 'lamp-post', district: 'north', lat: 53.550_123, lon: 9.993_456, secretHash: 's256$x', createdAt: '2026-01-01T00:00:00.000Z' }],
  ['lamp-s', { kind: 'lamp-post', district: 'south', lat: 53.4, lon: 10.1, secretHash: 's256$x', createdAt: '2026-01-01T00:00:00.000Z' }],
  ['hole-n', { kind: 'manhole', district: 'north', lat: 53.56, lon: 9.98, secretHash: 's256$x', createdAt: '2026-01-01T00:00:00.000Z' }],
])
const registry = {
  getDevice (id: string) { return devices.get(id) },
  listDevices () { return devices.entries() },
}

/** An InfluxDB that records statements and answers every SELECT with one point per device asked for. */
function fakeInflux (): InfluxQlClient & { statements: string[] } {
  const statements: string[] = []
  return {
    statements,
    query (influxql) {
      statements.push(influxql)
      if (influxql.startsWith('SELECT count(')) return Promise.resolve([])
      if (influxql.includes('time = ')) return Promise.resolve([])
      const columns = ['time', ...[...influxql.matchAll(/"(\w+)"(?=[,\s])/g)].map((m) => m[1] as string).filter((c, i, all) => all.indexOf(c) === i && c !== 'lamp_post' && c !== 'manhole')]
      const ids = [...influxql.matchAll(/"device_id" = '([^']+)'/g)].map((m) => m[1] as string)
      const rows = (ids.length > 0 ? ids : ['lamp-n', 'lamp-s']).map((id) => columns.map((c) => (c === 'time' ? NOW - 60_000 : c === 'device_id' ? id : 5)))
      return Promise.resolve([{ columns, values: rows }])
    },
  }
}

async function ask (scope: ConsumerScope | undefined, path: string, search = '', influx = fakeInflux()): Promise<Json> {
  const answer = await serveSta({
    model: createRegistryModel(registry, scope),
    reader: createObservationReader(influx),
    base: BASE,
    nowMs: NOW,
    observationReads: { left: MAX_OBSERVATION_READS },
    readingBudget: { left: MAX_READINGS_PER_REQUEST },
  }, path, search, [])
  if (!('json' in answer)) throw new Error('not JSON')
  return answer.json as Json
}

async function status (scope: ConsumerScope | undefined, path: string, search = ''): Promise<number> {
  try {
    await ask(scope, path, search)
    return 200
  } catch (err) {
    if (err instanceof StaError) return err.statusCode
    throw err
  }
}

const ids = (body: Json): unknown[] => (body.value as Json[]).map((e) => e['@iot.id'])

describe('SensorThings through a coarse scope', () => {
  const coarse: ConsumerScope = { districts: ['north'], kinds: ['lamp-post'], fields: ['activePower', 'supplyVoltage'], location: 'coarse' }
  const cell = coarsen(53.550_123, 9.993_456)

  it('hides other districts, kinds and fields: 404, and absent from lists, counts and expands', async () => {
    expect(ids(await ask(coarse, '/Things'))).toEqual(['lamp-n'])
    expect((await ask(coarse, '/Things', '$count=true'))['@iot.count']).toBe(1)
    expect(await status(coarse, '/Things(\'lamp-s\')')).toBe(404)
    expect(await status(coarse, '/Things(\'hole-n\')')).toBe(404)
    expect(await status(coarse, '/Datastreams(\'lamp-n:doorOpen\')')).toBe(404)
    expect(ids(await ask(coarse, '/Datastreams', '$count=true'))).toEqual(['lamp-n:supplyVoltage', 'lamp-n:activePower'])
    expect(ids(await ask(coarse, '/Sensors'))).toEqual(['lamp-post'])
    expect(ids(await ask(coarse, '/ObservedProperties'))).toEqual(['lamp-post:supplyVoltage', 'lamp-post:activePower'])
    const thing = await ask(coarse, '/Things(\'lamp-n\')', '$expand=Datastreams($count=true)')
    expect(thing['Datastreams@iot.count']).toBe(2)
    const sensor = await ask(coarse, '/Sensors(\'lamp-post\')', '$expand=Datastreams')
    expect((sensor.Datastreams as Json[]).map((d) => d['@iot.id'])).toEqual(['lamp-n:supplyVoltage', 'lamp-n:activePower'])
  })

  it('shows the coarse point in every Location and FeatureOfInterest', async () => {
    const point = { type: 'Point', coordinates: [cell.lon, cell.lat] }
    expect(cell).not.toEqual({ lat: 53.550_123, lon: 9.993_456 })
    expect((await ask(coarse, '/Locations(\'lamp-n\')')).location).toEqual(point)
    expect((await ask(coarse, '/FeaturesOfInterest(\'lamp-n\')')).feature).toEqual(point)
    expect((await ask(coarse, '/Things(\'lamp-n\')', '$expand=Locations')).Locations).toEqual([expect.objectContaining({ location: point })])
    expect(await ask(coarse, '/Locations(\'lamp-n\')/location')).toEqual({ location: point })
  })

  it('judges st_within and geo.distance on the coarse point, never the exact one', async () => {
    const exact = 'POINT(9.993456 53.550123)'
    // A tiny square around the exact point: the exact point is inside, the cell centre is not.
    const around = 'POLYGON((9.9934 53.5501, 9.9935 53.5501, 9.9935 53.5502, 9.9934 53.5502, 9.9934 53.5501))'
    expect(ids(await ask(undefined, '/Locations', `$filter=${encodeURIComponent(`st_within(location, geography'${around}')`)}`))).toEqual(['lamp-n'])
    expect(ids(await ask(coarse, '/Locations', `$filter=${encodeURIComponent(`st_within(location, geography'${around}')`)}`))).toEqual([])
    expect(ids(await ask(coarse, '/Locations', `$filter=${encodeURIComponent(`geo.distance(location, geography'${exact}') lt 0.0000001`)}`))).toEqual([])
    expect(ids(await ask(coarse, '/Locations', `$filter=${encodeURIComponent(`geo.distance(location, geography'POINT(${cell.lon} ${cell.lat})') eq 0`)}`))).toEqual(['lamp-n'])
    expect(ids(await ask(coarse, '/FeaturesOfInterest', `$filter=${encodeURIComponent(`st_intersects(feature, geography'POINT(${cell.lon} ${cell.lat})')`)}`))).toEqual(['lamp-n'])
    // Through navigation too: an Observation's FeatureOfInterest is the coarse one.
    const observations = await ask(coarse, '/Datastreams(\'lamp-n:activePower\')/Observations', `$filter=${encodeURIComponent(`geo.distance(FeatureOfInterest/feature, geography'${exact}') lt 0.0000001`)}`)
    expect(observations.value).toEqual([])
  })

  it('has no Locations at all for location none', async () => {
    const none: ConsumerScope = { location: 'none' }
    expect(ids(await ask(none, '/Locations'))).toEqual([])
    expect(ids(await ask(none, '/FeaturesOfInterest'))).toEqual([])
    expect(ids(await ask(none, '/HistoricalLocations'))).toEqual([])
    expect(await status(none, '/Locations(\'lamp-n\')')).toBe(404)
    expect((await ask(none, '/Things(\'lamp-n\')', '$expand=Locations')).Locations).toEqual([])
    expect(ids(await ask(none, '/Things'))).toEqual(['hole-n', 'lamp-n', 'lamp-s'])
  })

  it('asks InfluxDB only for the districts and fields the scope sees, and drops what it may not see', async () => {
    const influx = fakeInflux()
    const all = await ask(coarse, '/Observations', '', influx)
    expect(influx.statements[0]).toMatch(/^SELECT "supplyVoltage","activePower","device_id" FROM "lamp_post" WHERE time >= \d+ms AND time <= \d+ms AND \("district" = 'north'\) ORDER BY time ASC LIMIT 101$/)
    expect(influx.statements.some((s) => s.includes('manhole'))).toBe(false)
    // The fake answers for lamp-s too (as a device moved between districts would): not shown.
    expect(ids(all)).toEqual([`lamp-n:activePower:${NOW - 60_000}`, `lamp-n:supplyVoltage:${NOW - 60_000}`])
    expect(await status(coarse, `/Observations('lamp-s:activePower:${NOW - 60_000}')`)).toBe(404)
    expect(await status(coarse, `/Observations('lamp-n:doorOpen:${NOW - 60_000}')`)).toBe(404)
  })
})
