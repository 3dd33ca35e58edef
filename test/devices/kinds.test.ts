// The three kinds against the device contract (a fixture table per kind, transcribed below), every required
// field, every range boundary, integer-ness, inferred types, and defineKind's definition-time checks.
import { describe, it, expect, expectTypeOf } from 'vitest'
import { z } from 'zod'
import { defineKind, type DeviceKind } from '../../devices/define-kind.ts'
import { getKind, isKindName, kindNames, kinds, type KindName } from '../../devices/index.ts'
import { lampPost, type LampPostReading } from '../../devices/lamp-post.ts'
import { manhole, type ManholeReading } from '../../devices/manhole.ts'
import { waterPipe, type WaterPipeReading } from '../../devices/water-pipe.ts'

type Expected = { ok: true, data: Record<string, unknown> } | { ok: false, fields: string[] }
interface Fixture { name: string, payload: unknown, expected: Expected }

function run (kind: DeviceKind, fixtures: readonly Fixture[]): void {
  it.each(fixtures)('$name', ({ payload, expected }) => {
    const result = kind.schema.safeParse(payload)
    if (expected.ok) {
      expect(result.success).toBe(true)
      expect(result.data).toEqual(expected.data)
    } else {
      expect(result.success).toBe(false)
      expect(result.error?.issues.map((issue) => issue.path.join('.')).sort()).toEqual([...expected.fields].sort())
    }
  })
}

const LAMP_MIN = { commandedLevel: 80, supplyVoltage: 231.5, activePower: 42 }
const PIPE_MIN = { pressure: 420 }
const MANHOLE_MIN = { coverAngle: 0 }

describe('lamp-post fixtures', () => {
  run(lampPost, [
    { name: 'minimal reading', payload: LAMP_MIN, expected: { ok: true, data: LAMP_MIN } },
    {
      name: 'every field',
      payload: {
        ts: '2024-11-25T16:00:00Z', seq: 7, rssi: -87.5, ...LAMP_MIN, actualLevel: 79, supplyCurrent: 0.19,
        powerFactor: 0.95, activeEnergy: 1234.5, operatingHours: 18000, gearTemp: 41, tilt: 2,
        ambientLux: 3.5, doorOpen: false, leakage: false, lampFailure: true,
      },
      expected: {
        ok: true,
        data: {
          ts: '2024-11-25T16:00:00Z', seq: 7, rssi: -87.5, ...LAMP_MIN, actualLevel: 79, supplyCurrent: 0.19,
          powerFactor: 0.95, activeEnergy: 1234.5, operatingHours: 18000, gearTemp: 41, tilt: 2,
          ambientLux: 3.5, doorOpen: false, leakage: false, lampFailure: true,
        },
      },
    },
    { name: 'unknown field stripped', payload: { ...LAMP_MIN, colourTemp: 3000 }, expected: { ok: true, data: LAMP_MIN } },
    { name: 'commanded off', payload: { ...LAMP_MIN, commandedLevel: 0 }, expected: { ok: true, data: { ...LAMP_MIN, commandedLevel: 0 } } },
    { name: 'level as string', payload: { ...LAMP_MIN, commandedLevel: '80' }, expected: { ok: false, fields: ['commandedLevel'] } },
    { name: 'level 101', payload: { ...LAMP_MIN, commandedLevel: 101 }, expected: { ok: false, fields: ['commandedLevel'] } },
    { name: 'door as 1', payload: { ...LAMP_MIN, doorOpen: 1 }, expected: { ok: false, fields: ['doorOpen'] } },
    { name: 'null voltage', payload: { ...LAMP_MIN, supplyVoltage: null }, expected: { ok: false, fields: ['supplyVoltage'] } },
    { name: 'empty object', payload: {}, expected: { ok: false, fields: ['commandedLevel', 'supplyVoltage', 'activePower'] } },
    { name: 'rssi above 0', payload: { ...LAMP_MIN, rssi: 1 }, expected: { ok: false, fields: ['rssi'] } },
    { name: 'negative seq', payload: { ...LAMP_MIN, seq: -1 }, expected: { ok: false, fields: ['seq'] } },
    { name: 'local ts without offset', payload: { ...LAMP_MIN, ts: '2024-11-25T16:00:00' }, expected: { ok: false, fields: ['ts'] } },
    { name: 'ts with offset', payload: { ...LAMP_MIN, ts: '2024-11-25T17:00:00.123+01:00' }, expected: { ok: true, data: { ...LAMP_MIN, ts: '2024-11-25T17:00:00.123+01:00' } } },
    { name: 'ts epoch ms', payload: { ...LAMP_MIN, ts: 1732550400000 }, expected: { ok: true, data: { ...LAMP_MIN, ts: 1732550400000 } } },
    { name: 'ts fractional epoch', payload: { ...LAMP_MIN, ts: 1732550400000.5 }, expected: { ok: false, fields: ['ts'] } },
    { name: 'not an object', payload: 42, expected: { ok: false, fields: [''] } },
  ])
})

describe('water-pipe fixtures', () => {
  run(waterPipe, [
    { name: 'minimal reading', payload: PIPE_MIN, expected: { ok: true, data: PIPE_MIN } },
    { name: 'reverse flow', payload: { ...PIPE_MIN, flowRate: -12.5 }, expected: { ok: true, data: { ...PIPE_MIN, flowRate: -12.5 } } },
    { name: 'pH 7.2 and leak score', payload: { ...PIPE_MIN, pH: 7.2, leakScore: 12 }, expected: { ok: true, data: { ...PIPE_MIN, pH: 7.2, leakScore: 12 } } },
    { name: 'pressure missing', payload: { flowRate: 1 }, expected: { ok: false, fields: ['pressure'] } },
    { name: 'pressure 1601', payload: { pressure: 1601 }, expected: { ok: false, fields: ['pressure'] } },
    { name: 'leak score 1.5', payload: { ...PIPE_MIN, leakScore: 1.5 }, expected: { ok: false, fields: ['leakScore'] } },
  ])
})

describe('manhole fixtures', () => {
  run(manhole, [
    { name: 'minimal reading', payload: MANHOLE_MIN, expected: { ok: true, data: MANHOLE_MIN } },
    { name: 'cover open with gas', payload: { coverAngle: 92.5, coverOpen: true, h2s: 12, ch4: 3, o2: 20.9 }, expected: { ok: true, data: { coverAngle: 92.5, coverOpen: true, h2s: 12, ch4: 3, o2: 20.9 } } },
    { name: 'cover angle missing', payload: { coverOpen: true }, expected: { ok: false, fields: ['coverAngle'] } },
    { name: 'temperature −41', payload: { ...MANHOLE_MIN, temperature: -41 }, expected: { ok: false, fields: ['temperature'] } },
    { name: 'cover open as "yes"', payload: { ...MANHOLE_MIN, coverOpen: 'yes' }, expected: { ok: false, fields: ['coverOpen'] } },
  ])
})

// The contract's ranges, transcribed independently of the kind files: [field, min, max | undefined, integer].
type Range = readonly [field: string, min: number, max: number | undefined, isInteger: boolean]
const CONTRACT: Record<KindName, { required: readonly string[], booleans: readonly string[], ranges: readonly Range[], minimal: Record<string, unknown> }> = {
  'lamp-post': {
    required: ['commandedLevel', 'supplyVoltage', 'activePower'],
    booleans: ['doorOpen', 'leakage', 'lampFailure'],
    ranges: [
      ['commandedLevel', 0, 100, true], ['actualLevel', 0, 100, true], ['supplyVoltage', 0, 300, false],
      ['supplyCurrent', 0, 16, false], ['activePower', 0, 2000, false], ['powerFactor', 0, 1, false],
      ['activeEnergy', 0, undefined, false], ['operatingHours', 0, undefined, false], ['gearTemp', -40, 125, false],
      ['tilt', 0, 90, false], ['ambientLux', 0, 100000, false],
    ],
    minimal: LAMP_MIN,
  },
  'water-pipe': {
    required: ['pressure'],
    booleans: [],
    ranges: [
      ['pressure', 0, 1600, false], ['flowRate', -10000, 10000, false], ['totalVolume', 0, undefined, false],
      ['waterTemp', 0, 50, false], ['turbidity', 0, 1000, false], ['freeChlorine', 0, 10, false], ['pH', 0, 14, false],
      ['leakScore', 0, 100, true], ['battery', 0, 100, false],
    ],
    minimal: PIPE_MIN,
  },
  manhole: {
    required: ['coverAngle'],
    booleans: ['coverOpen'],
    ranges: [
      ['coverAngle', 0, 180, false], ['waterLevel', 0, 20, false], ['h2s', 0, 200, false], ['ch4', 0, 100, false],
      ['o2', 0, 30, false], ['temperature', -40, 85, false], ['battery', 0, 100, false],
    ],
    minimal: MANHOLE_MIN,
  },
}

describe.each(kindNames)('%s against the contract', (name) => {
  const kind = kinds[name] as DeviceKind
  const contract = CONTRACT[name]
  const accepts = (patch: Record<string, unknown>): boolean => kind.schema.safeParse({ ...contract.minimal, ...patch }).success

  it('has exactly the contract fields, in the contract order, then seq and rssi', () => {
    const own = [...contract.ranges.map(([field]) => field), ...contract.booleans]
    expect([...kind.fieldNames].sort()).toEqual([...own, 'seq', 'rssi'].sort())
    expect(kind.fieldNames.slice(-2)).toEqual(['seq', 'rssi'])
  })

  it.each(contract.required)('refuses a reading without %s', (field) => {
    const payload: Record<string, unknown> = { ...contract.minimal }
    delete payload[field]
    const result = kind.schema.safeParse(payload)
    expect(result.success).toBe(false)
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual([field])
  })

  it('treats every other field as optional', () => {
    const optional = kind.fieldNames.filter((field) => !contract.required.includes(field))
    for (const field of optional) expect(kind.schema.shape[field]?.safeParse(undefined).success).toBe(true)
  })

  it.each(contract.ranges)('%s accepts its bounds and refuses beyond them', (field, min, max, isInteger) => {
    const step = isInteger ? 1 : 0.001
    expect(accepts({ [field]: min })).toBe(true)
    expect(accepts({ [field]: min - step })).toBe(false)
    if (max === undefined) {
      expect(accepts({ [field]: 1e12 })).toBe(true)
    } else {
      expect(accepts({ [field]: max })).toBe(true)
      expect(accepts({ [field]: max + step })).toBe(false)
    }
    expect(accepts({ [field]: String(min) })).toBe(false)
    expect(accepts({ [field]: null })).toBe(false)
    expect(kind.fieldTypes[field]).toBe(isInteger ? 'integer' : 'float')
    if (isInteger) expect(accepts({ [field]: min + 1.5 })).toBe(false)
    else expect(accepts({ [field]: min + 0.5 })).toBe(true)
  })

  it.each(contract.booleans.length > 0 ? contract.booleans : ['(none)'])('boolean field %s takes only true/false', (field) => {
    if (field === '(none)') return
    expect(accepts({ [field]: true })).toBe(true)
    expect(accepts({ [field]: false })).toBe(true)
    expect(accepts({ [field]: 1 })).toBe(false)
    expect(accepts({ [field]: 'true' })).toBe(false)
    expect(kind.fieldTypes[field]).toBe('boolean')
  })

  it('types the envelope fields', () => {
    expect(kind.fieldTypes.seq).toBe('integer')
    expect(kind.fieldTypes.rssi).toBe('float')
    expect(accepts({ seq: 1.5 })).toBe(false)
    expect(accepts({ rssi: -150 })).toBe(true)
    expect(accepts({ rssi: -150.1 })).toBe(false)
    expect(accepts({ rssi: 0 })).toBe(true)
  })

  it('is frozen', () => {
    expect(Object.isFrozen(kind)).toBe(true)
    expect(Object.isFrozen(kind.fieldTypes)).toBe(true)
    expect(Object.isFrozen(kind.fieldNames)).toBe(true)
  })
})

describe('catalogue', () => {
  it('lists the three kinds with their measurements and intervals', () => {
    expect(kindNames).toEqual(['lamp-post', 'water-pipe', 'manhole'])
    expect(Object.values(kinds).map((kind) => [kind.name, kind.measurement, kind.expectedIntervalSec])).toEqual([
      ['lamp-post', 'lamp_post', 60],
      ['water-pipe', 'water_pipe', 300],
      ['manhole', 'manhole', 3600],
    ])
  })

  it('finds kinds by name and nothing else', () => {
    expect(getKind('manhole')).toBe(manhole)
    expect(getKind('street-bin')).toBeUndefined()
    expect(getKind('constructor')).toBeUndefined()
    expect(getKind('__proto__')).toBeUndefined()
    expect(isKindName('lamp-post')).toBe(true)
    expect(isKindName('toString')).toBe(false)
  })

  it('serves z.enum', () => {
    const kindEnum = z.enum(kindNames)
    expect(kindEnum.parse('water-pipe')).toBe('water-pipe')
    expect(kindEnum.safeParse('lamp_post').success).toBe(false)
  })
})

describe('inferred types', () => {
  it('come from zod', () => {
    expectTypeOf<LampPostReading['commandedLevel']>().toEqualTypeOf<number>()
    expectTypeOf<LampPostReading['actualLevel']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<LampPostReading['doorOpen']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<LampPostReading['ts']>().toEqualTypeOf<string | number | undefined>()
    expectTypeOf<WaterPipeReading['pressure']>().toEqualTypeOf<number>()
    expectTypeOf<ManholeReading['coverAngle']>().toEqualTypeOf<number>()
    expectTypeOf<ManholeReading['coverOpen']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<KindName>().toEqualTypeOf<'lamp-post' | 'water-pipe' | 'manhole'>()
    expectTypeOf(kinds.manhole).toEqualTypeOf(manhole)
    expectTypeOf(lampPost).toExtend<DeviceKind>()
  })
})

describe('defineKind checks its definition', () => {
  const base = {
    name: 'street-bin',
    measurement: 'street_bin',
    fields: { fillLevel: z.int().min(0).max(100), lidOpen: z.boolean().optional() },
    fieldTypes: { fillLevel: 'integer', lidOpen: 'boolean' },
    expectedIntervalSec: 900,
  } as const

  it('accepts a consistent definition', () => {
    const bin = defineKind(base)
    expect(bin.fieldNames).toEqual(['fillLevel', 'lidOpen', 'seq', 'rssi'])
    expect(bin.fieldTypes).toEqual({ fillLevel: 'integer', lidOpen: 'boolean', seq: 'integer', rssi: 'float' })
  })

  it('refuses a field without a type', () => {
    expect(() => defineKind({ ...base, fieldTypes: { fillLevel: 'integer' } as never })).toThrow(/lidOpen.*no entry/)
  })

  it('refuses a type for a field that does not exist', () => {
    expect(() => defineKind({ ...base, fieldTypes: { ...base.fieldTypes, weight: 'float' } as never })).toThrow(/weight.*not a field/)
  })

  it('refuses a type that disagrees with the schema', () => {
    expect(() => defineKind({ ...base, fieldTypes: { fillLevel: 'float', lidOpen: 'boolean' } })).toThrow(/fillLevel.*integer/)
    expect(() => defineKind({ ...base, fieldTypes: { fillLevel: 'integer', lidOpen: 'integer' } })).toThrow(/lidOpen/)
  })

  it('refuses non-numeric fields, reserved and unsafe names, bad names', () => {
    expect(() => defineKind({ ...base, fields: { ...base.fields, label: z.string() } as never, fieldTypes: { ...base.fieldTypes, label: 'float' } as never })).toThrow(/label/)
    expect(() => defineKind({ ...base, fields: { rssi: z.number() }, fieldTypes: { rssi: 'float' } })).toThrow(/reserved/)
    expect(() => defineKind({ ...base, fields: { 'fill level': z.number() }, fieldTypes: { 'fill level': 'float' } })).toThrow(/identifier/)
    expect(() => defineKind({ ...base, name: 'Street Bin' })).toThrow(/kebab/)
    expect(() => defineKind({ ...base, measurement: 'street bin' })).toThrow(/snake/)
    expect(() => defineKind({ ...base, expectedIntervalSec: 0 })).toThrow(/expectedIntervalSec/)
  })
})
