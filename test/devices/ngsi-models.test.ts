// Enters: a full reading of every kind and an alarm's changes, through the exporter's entity builder.
// Checks: the keyValues form of each entity validates against the Smart Data Models' published JSON
// Schema of its type (test/fixtures/ngsi-ld, see SOURCE.md), with ajv; units and derived attributes.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { describe, expect, it } from 'vitest'
import { kinds } from '../../devices/index.ts'
import { ngsiModels } from '../../devices/ngsi-models.ts'
import { encodeAlarm, encodeTelemetry, type AlarmPoint } from '../../broker/influx/line-protocol.ts'
import { entityUpdateOf, type EntityUpdate } from '../../broker/ngsi/entities.ts'
import { REPO_ROOT } from '../helpers/gateway.ts'

const FIXTURES = join(REPO_ROOT, 'test/fixtures/ngsi-ld')
// ajv-formats is CommonJS with a default export; under NodeNext its callable sits on `.default`.
const addFormats = addFormatsModule.default

function fixture (name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as Record<string, unknown>
}

/** A fixture registered under the address the models' $refs use; "$schema": "…/schema#" names no draft ajv knows, so draft-07 is used. */
function as (name: string, id: string): Record<string, unknown> {
  const { $schema: _schema, id: _draft4Id, ...rest } = fixture(name)
  return { ...rest, $id: id }
}

const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false })
addFormats(ajv)
ajv.addSchema(as('common-schema.json', 'https://fiware.github.io/dataModels/common-schema.json'))
ajv.addSchema(as('common-schema.json', 'https://smart-data-models.github.io/data-models/common-schema.json'))
ajv.addSchema(as('device-schema.json', 'https://fiware.github.io/dataModels/specs/Device/device-schema.json'))
ajv.addSchema(as('alert-schema.json', 'https://fiware.github.io/dataModels/specs/Alert/alert-schema.json'))
ajv.addSchema(as('weather-schema.json', 'https://fiware.github.io/dataModels/specs/Weather/weather-schema.json'))
// The gateway sends Points only; the GeoJSON Point schema stands for the models' geometry reference.
ajv.addSchema(as('geojson-Point.json', 'http://json-schema.org/geojson/geometry.json'))

const validators: Record<string, ValidateFunction> = {
  Streetlight: ajv.compile(as('Streetlight.schema.json', 'https://fiware.github.io/dataModels/specs/StreetLighting/Streetlight/schema.json')),
  WaterQualityObserved: ajv.compile(as('WaterQualityObserved.schema.json', 'https://smart-data-models.github.io/dataModel.WaterQuality/WaterQualityObserved/schema.json')),
  Device: ajv.compile(as('Device.schema.json', 'https://fiware.github.io/dataModels/specs/Device/Device/schema.json')),
  Alert: ajv.compile(as('Alert.schema.json', 'https://fiware.github.io/dataModels/specs/Alert/schema.json')),
}
const controlledPropertyType = ajv.compile({ $ref: 'https://fiware.github.io/dataModels/specs/Device/device-schema.json#/definitions/ControlledPropertyType' })
const categoryType = ajv.compile({ $ref: 'https://fiware.github.io/dataModels/specs/Device/device-schema.json#/definitions/CategoryType' })

/** The keyValues (simplified) form the models' schemas describe: each attribute by its value or object. */
function keyValues (entity: EntityUpdate): Record<string, unknown> {
  const out: Record<string, unknown> = { id: entity.id, type: entity.type }
  for (const [name, attribute] of Object.entries(entity.attributes)) out[name] = attribute.type === 'Relationship' ? attribute.object : attribute.value
  return out
}

function expectValid (entity: EntityUpdate): void {
  const validate = validators[entity.type]
  expect(validate, entity.type).toBeDefined()
  const ok = validate!(keyValues(entity))
  expect(validate!.errors ?? [], JSON.stringify(keyValues(entity))).toEqual([])
  expect(ok).toBe(true)
}

const located = (): { lat: number, lon: number } => ({ lat: 48.1372, lon: 11.5756 })
const TS = Date.parse('2026-11-30T08:15:00Z')

function telemetry (kind: keyof typeof kinds, values: Record<string, number | boolean>): EntityUpdate {
  const line = encodeTelemetry(kinds[kind], { deviceId: 'dev-1', district: 'old-town' }, { index: 0, tsMs: TS, tsGiven: true, values: { seq: 7, rssi: -80, ...values } })
  const update = entityUpdateOf(line, located)
  if (update === undefined) throw new Error('no entity')
  return update
}

describe('NGSI-LD models (Smart Data Models JSON Schemas)', () => {
  it('every kind has a model', () => {
    expect(Object.keys(ngsiModels).sort()).toEqual(Object.keys(kinds).sort())
  })

  it('lamp post → Streetlight', () => {
    const entity = telemetry('lamp-post', {
      commandedLevel: 100, actualLevel: 60, supplyVoltage: 229.8, supplyCurrent: 0.31, activePower: 68.5, powerFactor: 0.96,
      activeEnergy: 1234.5, operatingHours: 20_000, gearTemp: 41, tilt: 1.5, ambientLux: 3, doorOpen: false, leakage: false, lampFailure: false,
    })
    expect(entity.id).toBe('urn:ngsi-ld:Streetlight:dev-1')
    expectValid(entity)
    expect(entity.attributes).toMatchObject({
      status: { value: 'ok' },
      powerState: { value: 'low' },
      illuminanceLevel: { value: 0.6 },
      activePower: { value: 68.5, unitCode: 'WTT', observedAt: '2026-11-30T08:15:00.000Z' },
      gearTemperature: { unitCode: 'CEL' },
    })
    expect(entity.attributes).not.toHaveProperty('seq')
    expect(entity.attributes).not.toHaveProperty('rssi')
  })

  it('Streetlight status follows the lamp failure, door and tilt flags', () => {
    const base = { commandedLevel: 100, supplyVoltage: 230, activePower: 1 }
    expect(telemetry('lamp-post', { ...base, lampFailure: true }).attributes.status).toMatchObject({ value: 'defectiveLamp' })
    expect(telemetry('lamp-post', { ...base, doorOpen: true }).attributes.status).toMatchObject({ value: 'columnIssue' })
    expect(telemetry('lamp-post', { ...base, tilt: 12 }).attributes.status).toMatchObject({ value: 'columnIssue' })
    const off = telemetry('lamp-post', { ...base, commandedLevel: 0 })
    expect(off.attributes.powerState).toMatchObject({ value: 'off' })
    for (const entity of [off, telemetry('lamp-post', { ...base, lampFailure: true })]) expectValid(entity)
  })

  it('water pipe → WaterQualityObserved with flow and pressure', () => {
    const entity = telemetry('water-pipe', { pressure: 420, flowRate: -12.5, totalVolume: 88_000, waterTemp: 11.2, turbidity: 0.4, freeChlorine: 0.3, pH: 7.4, leakScore: 3, battery: 87 })
    expect(entity.id).toBe('urn:ngsi-ld:WaterQualityObserved:dev-1')
    expectValid(entity)
    expect(entity.attributes).toMatchObject({
      temperature: { value: 11.2, unitCode: 'CEL' },
      pressure: { value: 420, unitCode: 'KPA' },
      flow: { value: -12.5, unitCode: 'MQH' },
      batteryLevel: { value: 0.87 },
      dateObserved: { value: '2026-11-30T08:15:00.000Z' },
    })
  })

  it('manhole → Device with controlled properties from the model\'s vocabulary', () => {
    const entity = telemetry('manhole', { coverAngle: 2, coverOpen: false, waterLevel: 0.4, h2s: 1.2, ch4: 0, o2: 20.9, temperature: 9, battery: 55 })
    expect(entity.id).toBe('urn:ngsi-ld:Device:dev-1')
    expectValid(entity)
    const { controlledProperty, category, value, batteryLevel } = keyValues(entity)
    expect(controlledPropertyType(controlledProperty), JSON.stringify(controlledPropertyType.errors)).toBe(true)
    expect(categoryType(category)).toBe(true)
    expect(batteryLevel).toBe(0.55)
    expect(decodeURIComponent(value as string)).toBe('coverAngle=2;coverOpen=false;waterLevel=0.4;h2s=1.2;ch4=0;o2=20.9;temperature=9;batteryLevel=55')
  })

  it('alarm changes → one Alert per alarm id, valid at raise and at clear', () => {
    const point: AlarmPoint = { deviceId: 'dev-1', district: 'old-town', kind: 'water-pipe', type: 'burstSuspected', severity: 'major', state: 'active', value: 900, threshold: 600, message: 'Flow far above normal.', alarmId: '5f0c', change: 'raised', tsMs: TS }
    const raised = entityUpdateOf(encodeAlarm(point), located)!
    const cleared = entityUpdateOf(encodeAlarm({ ...point, state: 'cleared', change: 'cleared', clearSec: 600, tsMs: TS + 600_000 }), located)!
    for (const entity of [raised, cleared]) {
      expect(entity.id).toBe('urn:ngsi-ld:Alert:5f0c')
      expectValid(entity)
    }
    expect(keyValues(raised)).toMatchObject({ category: 'environment', subCategory: 'flood', severity: 'high', alertSource: 'urn:ngsi-ld:WaterQualityObserved:dev-1', dateIssued: '2026-11-30T08:15:00.000Z' })
    expect(keyValues(cleared)).toMatchObject({ dateIssued: '2026-11-30T08:15:00.000Z', validTo: '2026-11-30T08:25:00.000Z' })
  })

  it('the schemas do refuse a wrong entity (the check can fail)', () => {
    const entity = telemetry('lamp-post', { commandedLevel: 100, supplyVoltage: 230, activePower: 50 })
    expect(validators.Streetlight!({ ...keyValues(entity), status: 'broken' })).toBe(false)
    expect(validators.Streetlight!({ ...keyValues(entity), location: undefined })).toBe(false)
    expect(validators.Alert!({ id: 'urn:ngsi-ld:Alert:x', type: 'Alert', category: 'infrastructure', alertSource: 'a', dateIssued: 'now', location: { type: 'Point', coordinates: [0, 0] } })).toBe(false)
  })
})

describe('README NGSI-LD mapping tables', () => {
  it('list every field of every model with its attribute and unit code', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
    for (const model of Object.values(ngsiModels)) {
      for (const [field, mapping] of Object.entries(model.fields)) {
        expect(readme).toContain(`| \`${field}\` | \`${mapping.attribute}\``)
        if (mapping.unitCode !== undefined) expect(readme).toMatch(new RegExp(`\\| \`${field}\` \\| \`${mapping.attribute}\`[^|]*\\| \`${mapping.unitCode}\` \\|`))
      }
    }
  })
})
