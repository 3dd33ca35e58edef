// Enters: what the exporter's client really sends (captured by the stand-in context broker) for an
// entity of every kind and an Alert. Checks: each entity in the upsert body is an Entity.Input of the
// NGSI-LD API's OpenAPI (ETSI GS CIM 009 V1.6.1, test/fixtures/ngsi-ld, see SOURCE.md), with ajv.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2019 } from 'ajv/dist/2019.js'
import addFormatsModule from 'ajv-formats'
import { parse } from 'yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { kinds } from '../../../devices/index.ts'
import { encodeAlarm, encodeTelemetry } from '../../../broker/influx/line-protocol.ts'
import { createNgsiClient } from '../../../broker/ngsi/client.ts'
import { entityUpdateOf, type EntityUpdate } from '../../../broker/ngsi/entities.ts'
import { REPO_ROOT } from '../../helpers/gateway.ts'
import { startNgsiLdServer, type NgsiLdServer } from '../../helpers/ngsi-ld-server.ts'

const FIXTURES = join(REPO_ROOT, 'test/fixtures/ngsi-ld')
const addFormats = addFormatsModule.default

type Node = Record<string, unknown>

// The OpenAPI writes "other members" as a sibling branch `{ type: object, additionalProperties }`
// inside allOf. Read literally (JSON Schema), that branch judges every member, `type` and `value`
// included, and no entity could pass; what it means is JSON Schema 2019-09's unevaluatedProperties
// on the schema holding the allOf. The copy compiled here says so; the fixture stays as published.
function asUnevaluated (node: unknown): unknown {
  if (Array.isArray(node)) return node.map(asUnevaluated)
  if (node === null || typeof node !== 'object') return node
  const out: Node = {}
  for (const [key, value] of Object.entries(node as Node)) out[key] = asUnevaluated(value)
  if (Array.isArray(out.allOf)) {
    for (const branch of out.allOf as Node[]) {
      if (branch.additionalProperties !== undefined && branch.properties === undefined) {
        out.unevaluatedProperties = branch.additionalProperties
        delete branch.additionalProperties
      }
    }
  }
  return out
}

const api = parse(readFileSync(join(FIXTURES, 'ngsi-ld-api-1.6.1.schemas.yaml'), 'utf8')) as { components: { schemas: Node } }
const { $schema: _draft, ...point } = JSON.parse(readFileSync(join(FIXTURES, 'geojson-Point.json'), 'utf8')) as Node
const schemas = asUnevaluated(api.components.schemas) as Node
// The excerpt does not hold the API's Geometry; the gateway sends Points only.
schemas.Geometry = { $ref: 'https://geojson.org/schema/Point.json' }
const ajv = new Ajv2019({ strict: false, allErrors: true })
addFormats(ajv)
ajv.addSchema(point)
ajv.addSchema({ $id: 'https://ngsi-ld.test/api.json', components: { schemas } })
const entityInput = ajv.getSchema('https://ngsi-ld.test/api.json#/components/schemas/Entity.Input')!
const ldContext = ajv.getSchema('https://ngsi-ld.test/api.json#/components/schemas/LdContext')!

let server: NgsiLdServer
beforeAll(async () => { server = await startNgsiLdServer() })
afterAll(async () => { await server.close() })

const TS = Date.parse('2026-11-30T08:15:00Z')
const at = (): { lat: number, lon: number } => ({ lat: 40.4168, lon: -3.7038 })

function updates (): EntityUpdate[] {
  const reading = (values: Record<string, number | boolean>) => ({ index: 0, tsMs: TS, tsGiven: true, values })
  const lines = [
    encodeTelemetry(kinds['lamp-post'], { deviceId: 'lp-1', district: 'd' }, reading({ commandedLevel: 70, supplyVoltage: 231, activePower: 40, lampFailure: true, doorOpen: false })),
    encodeTelemetry(kinds['water-pipe'], { deviceId: 'wp-1', district: 'd' }, reading({ pressure: 400, flowRate: 3, pH: 7.1, battery: 90 })),
    encodeTelemetry(kinds.manhole, { deviceId: 'mh-1', district: 'd' }, reading({ coverAngle: 40, coverOpen: true, battery: 70 })),
    encodeAlarm({ deviceId: 'mh-1', district: 'd', kind: 'manhole', type: 'coverOpen', severity: 'critical', state: 'acknowledged', value: 40, threshold: 10, message: 'Cover open.', alarmId: 'al-1', change: 'acknowledged', ackedBy: 'crew-1', ackSec: 30, tsMs: TS }),
  ]
  return lines.map((line) => entityUpdateOf(line, at)!)
}

describe('NGSI-LD upsert request body (ETSI GS CIM 009 OpenAPI)', () => {
  it('every entity the client sends is an Entity.Input with a valid @context', async () => {
    const client = createNgsiClient({ url: server.url, context: 'https://smartdatamodels.org/context.jsonld', timeoutMs: 5000 })
    expect(await client.upsert(updates())).toEqual({ kind: 'done' })
    const sent = server.requests[0]!.entities
    expect(sent.map((e) => e.type)).toEqual(['Streetlight', 'WaterQualityObserved', 'Device', 'Alert'])
    // Who acknowledged is personal data: it never leaves for the context broker.
    expect(JSON.stringify(sent)).not.toContain('crew-1')
    for (const entity of sent) {
      const { '@context': context, ...rest } = entity
      expect(ldContext(context)).toBe(true)
      const ok = entityInput(rest)
      expect(entityInput.errors ?? [], entity.id).toEqual([])
      expect(ok).toBe(true)
    }
  })

  it('the schema refuses what the API does not allow (the check can fail)', () => {
    const [streetlight] = updates()
    const { id, type, attributes } = streetlight!
    expect(entityInput({ id, type, ...attributes })).toBe(true)
    expect(entityInput({ id, type, ...attributes, status: { type: 'Property' } })).toBe(false)
    expect(entityInput({ id, type, ...attributes, status: 'ok' })).toBe(false)
    expect(entityInput({ type, ...attributes })).toBe(false)
    expect(entityInput({ id, type, ...attributes, location: { type: 'GeoProperty', value: { type: 'Point', coordinates: 'x' } } })).toBe(false)
  })
})
