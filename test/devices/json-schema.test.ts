// kindJsonSchema: a draft 2020-12 document per kind, with title, units in descriptions, the
// contract's required fields and ranges, and agreement with what the gateway actually accepts.
import { describe, it, expect } from 'vitest'
import { kindJsonSchema } from '../../devices/json-schema.ts'
import { kindNames, kinds } from '../../devices/index.ts'
import { lampPost } from '../../devices/lamp-post.ts'
import { waterPipe } from '../../devices/water-pipe.ts'

interface PropertySchema { type?: string, minimum?: number, maximum?: number, description?: string, unit?: string, anyOf?: unknown[] }
interface ReadingSchema {
  $schema: string
  title: string
  description: string
  type: string
  properties: Record<string, PropertySchema>
  required: string[]
  additionalProperties?: unknown
}

const schemaOf = (name: (typeof kindNames)[number]): ReadingSchema => kindJsonSchema(kinds[name]) as unknown as ReadingSchema

describe('kindJsonSchema', () => {
  it('is a titled draft 2020-12 object schema', () => {
    const schema = schemaOf('lamp-post')
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema')
    expect(schema.title).toBe('lamp-post reading')
    expect(schema.description).toMatch(/array of 1–100/)
    expect(schema.type).toBe('object')
  })

  it('lists the required fields and the ranges of the contract', () => {
    const schema = schemaOf('lamp-post')
    expect(schema.required).toEqual(['commandedLevel', 'supplyVoltage', 'activePower'])
    expect(schema.properties.commandedLevel).toMatchObject({ type: 'integer', minimum: 0, maximum: 100 })
    expect(schema.properties.supplyVoltage).toMatchObject({ type: 'number', minimum: 0, maximum: 300 })
    expect(schema.properties.activeEnergy).toMatchObject({ type: 'number', minimum: 0 })
    expect(schema.properties.activeEnergy?.maximum).toBeUndefined()
    expect(schema.properties.doorOpen).toMatchObject({ type: 'boolean' })
    expect(schema.properties.rssi).toMatchObject({ type: 'number', minimum: -150, maximum: 0 })
    expect(schema.properties.seq).toMatchObject({ type: 'integer', minimum: 0 })
    expect(schema.properties.ts?.anyOf).toHaveLength(2)
  })

  it('carries units in the field descriptions', () => {
    const schema = schemaOf('lamp-post')
    expect(schema.properties.supplyVoltage?.description).toMatch(/\[V\]$/)
    expect(schema.properties.supplyVoltage?.unit).toBe('V')
    expect(schema.properties.activeEnergy?.description).toMatch(/\[kWh\]$/)
    expect(schemaOf('water-pipe').properties.flowRate?.description).toMatch(/\[m³\/h\]$/)
    expect(schemaOf('manhole').properties.ch4?.description).toMatch(/\[%LEL\]$/)
  })

  it('describes every field of every kind', () => {
    for (const name of kindNames) {
      const schema = schemaOf(name)
      expect(Object.keys(schema.properties).sort()).toEqual(['ts', ...kinds[name].fieldNames].sort())
      for (const [field, property] of Object.entries(schema.properties)) {
        expect(property.description, `${name}.${field}`).toBeTruthy()
      }
    }
  })

  it('allows unknown keys, as the gateway does', () => {
    expect(schemaOf('manhole').additionalProperties).toBeUndefined()
  })

  it('is stable across calls (no unit appended twice)', () => {
    expect(kindJsonSchema(waterPipe)).toEqual(kindJsonSchema(waterPipe))
    expect(kindJsonSchema(lampPost)).toEqual(kindJsonSchema(lampPost))
  })

  it('is plain JSON', () => {
    const schema = kindJsonSchema(lampPost)
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema)
  })
})
