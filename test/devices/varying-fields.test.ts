// The `varies` marker: which fields stuckSensor watches (README "Default rules"), and that firmware
// teams see it in `citygw schema <kind>`.
import { describe, expect, it } from 'vitest'
import { varyingFields } from '../../devices/define-rule.ts'
import { kinds } from '../../devices/index.ts'
import { kindJsonSchema } from '../../devices/json-schema.ts'

const documented = {
  'lamp-post': ['supplyVoltage'],
  'water-pipe': ['pressure', 'flowRate'],
  manhole: ['waterLevel', 'temperature'],
}

describe('fields marked varies', () => {
  for (const kind of Object.values(kinds)) {
    it(`${kind.name}: ${documented[kind.name].join(', ')}, shown in the JSON Schema`, () => {
      const shape = kind.schema.shape as Record<string, { meta(): Record<string, unknown> | undefined }>
      const ownFields = Object.fromEntries(Object.keys(kind.fieldTypes).filter((f) => f !== 'seq' && f !== 'rssi').map((f) => [f, shape[f]!]))
      expect(varyingFields(ownFields).map((f) => f.name)).toEqual(documented[kind.name])
      const properties = (kindJsonSchema(kind) as { properties: Record<string, Record<string, unknown>> }).properties
      expect(Object.keys(properties).filter((f) => properties[f]!.varies === true)).toEqual(documented[kind.name])
      expect(kind.rules.map((r) => r.type)).toEqual(expect.arrayContaining(['stuckSensor', 'clockSkew']))
    })
  }

  it('labels a field for messages as people write it, with its unit', () => {
    const shape = kinds['water-pipe'].schema.shape as unknown as Record<string, { meta(): Record<string, unknown> | undefined }>
    expect(varyingFields({ flowRate: shape.flowRate!, pressure: shape.pressure! })).toEqual([
      { name: 'flowRate', label: 'Flow rate', unit: 'm³/h' },
      { name: 'pressure', label: 'Pressure', unit: 'kPa' },
    ])
  })
})
