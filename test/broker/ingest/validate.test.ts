// validateTelemetry: every message-level reason code, per-reading outcomes in a batch, the ts
// window, unknown fields, hostile keys and nesting, and the human messages devices are told.
import { describe, it, expect } from 'vitest'
import { lampPost } from '../../../devices/lamp-post.ts'
import { manhole } from '../../../devices/manhole.ts'
import { validateTelemetry, type ValidationOutcome } from '../../../broker/ingest/validate.ts'
import { validateDefaults } from '../../helpers/default-options.ts'

const NOW = Date.parse('2024-11-25T16:00:00Z')
const MINUTE = 60_000
const DAY = 86_400_000
const LAMP = { commandedLevel: 80, supplyVoltage: 231.5, activePower: 42 }

function validate (payload: unknown, options: Partial<{ maxFutureMs: number, backfillMs: number, maxBatch: number }> = {}): ValidationOutcome {
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload))
  return validateTelemetry(lampPost, bytes, { ...validateDefaults, nowMs: NOW, ...options })
}

function accepted (outcome: ValidationOutcome) {
  if (!outcome.ok) throw new Error(`expected ok, got ${outcome.reason}`)
  return outcome
}

function refused (outcome: ValidationOutcome) {
  if (outcome.ok) throw new Error('expected a refused message')
  return outcome
}

describe('message-level reasons', () => {
  it.each([
    ['invalid_utf8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
    ['invalid_utf8', Buffer.from([0x22, 0xc3, 0x22])],
    ['invalid_json', '{"commandedLevel": 80'],
    ['invalid_json', ''],
    ['invalid_json', '{"commandedLevel": NaN}'],
    ['invalid_json', '{"supplyVoltage": Infinity}'],
    ['invalid_json', '{"supplyVoltage": -Infinity}'],
    ['invalid_json', "{'commandedLevel': 80}"],
    ['not_object_or_array', '42'],
    ['not_object_or_array', 'null'],
    ['not_object_or_array', '"lamp"'],
    ['not_object_or_array', 'true'],
    ['empty_batch', '[]'],
    ['batch_too_large', JSON.stringify(Array.from({ length: 101 }, () => LAMP))],
    ['forbidden_key', '{"commandedLevel": 80, "__proto__": {"isAdmin": true}}'],
    ['forbidden_key', '[{"supplyVoltage": 1, "constructor": {"prototype": {}}}]'],
    ['forbidden_key', '{"x": {"y": [{"prototype": 1}]}}'],
    ['forbidden_key', '{"\\u005f_proto__": 1}'],
  ] as const)('%s: %s', (reason, payload) => {
    const outcome = refused(validate(payload))
    expect(outcome.reason).toBe(reason)
    expect(outcome.issues.length).toBeGreaterThan(0)
    for (const issue of outcome.issues) expect(issue.message).toEqual(expect.any(String))
  })

  it('names where a forbidden key sits', () => {
    expect(refused(validate('[{"a": 1}, {"meta": {"__proto__": {}}}]')).issues).toEqual([
      { field: '1.meta.__proto__', message: 'key "__proto__" is not allowed' },
    ])
  })

  it('with the default MAX_BATCH_READINGS, accepts 100 readings and refuses 101', () => {
    const hundred = Array.from({ length: 100 }, (_, seq) => ({ ...LAMP, seq }))
    const outcome = accepted(validate(hundred))
    expect(outcome.readings).toHaveLength(100)
    expect(outcome.readings[99]?.index).toBe(99)
    const tooMany = refused(validate([...hundred, LAMP]))
    expect(tooMany.reason).toBe('batch_too_large')
    expect(tooMany.issues[0]?.message).toBe('a batch holds at most 100 readings, got 101')
  })

  it('honours a smaller maxBatch', () => {
    expect(refused(validate([LAMP, LAMP, LAMP], { maxBatch: 2 })).reason).toBe('batch_too_large')
  })

  it('survives 10,000 levels of nesting', () => {
    const deepArray = '['.repeat(10_000) + ']'.repeat(10_000)
    const arrayOutcome = accepted(validate(deepArray))
    expect(arrayOutcome.rejections).toEqual([{ index: 0, reason: 'invalid_reading', issues: [{ field: '', message: 'expected object, got array' }] }])

    const deepObject = JSON.stringify(LAMP).slice(0, -1) + ',"extra":' + '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000) + '}'
    const objectOutcome = accepted(validate(deepObject))
    expect(objectOutcome.readings).toHaveLength(1)
    expect(objectOutcome.unknownFields).toEqual(['extra'])

    const deepHostile = '{"a":'.repeat(10_000) + '{"__proto__":1}' + '}'.repeat(10_000)
    expect(refused(validate(deepHostile)).reason).toBe('forbidden_key')
  })

  it('never throws on garbage', () => {
    for (let seed = 0; seed < 200; seed++) {
      const bytes = Buffer.from(Array.from({ length: seed % 40 }, (_, i) => (seed * 31 + i * 17) % 256))
      expect(() => validateTelemetry(lampPost, bytes, { ...validateDefaults, nowMs: NOW })).not.toThrow()
    }
  })
})

describe('readings', () => {
  it('accepts a single object as a batch of one', () => {
    const outcome = accepted(validate(LAMP))
    expect(outcome).toEqual({
      ok: true,
      readings: [{ index: 0, tsMs: NOW, tsGiven: false, values: LAMP }],
      rejections: [],
      unknownFields: [],
    })
  })

  it('stores seq and rssi with the values, never ts', () => {
    const outcome = accepted(validate({ ...LAMP, ts: NOW - 1000, seq: 12, rssi: -90 }))
    expect(outcome.readings[0]?.values).toEqual({ ...LAMP, seq: 12, rssi: -90 })
  })

  it('judges each reading of a batch on its own', () => {
    const outcome = accepted(validate([LAMP, { ...LAMP, commandedLevel: 101 }, { ...LAMP, seq: 3 }, 7]))
    expect(outcome.readings.map((reading) => reading.index)).toEqual([0, 2])
    expect(outcome.rejections).toEqual([
      { index: 1, reason: 'invalid_reading', issues: [{ field: 'commandedLevel', message: 'must be at most 100' }] },
      { index: 3, reason: 'invalid_reading', issues: [{ field: '', message: 'expected object, got number' }] },
    ])
  })

  it('explains each field in words', () => {
    // 1e400 is valid JSON and parses to Infinity.
    const outcome = accepted(validate('{"commandedLevel": 1.5, "supplyVoltage": "230", "activePower": -1, "doorOpen": "no", "rssi": 1e400}'))
    expect(outcome.rejections[0]?.issues).toEqual([
      { field: 'rssi', message: 'must be a finite number' },
      { field: 'commandedLevel', message: 'must be an integer' },
      { field: 'supplyVoltage', message: 'expected number, got string' },
      { field: 'activePower', message: 'must be at least 0' },
      { field: 'doorOpen', message: 'expected boolean, got string' },
    ])
  })

  it('names missing required fields', () => {
    const outcome = accepted(validate({ commandedLevel: 50 }))
    expect(outcome.rejections[0]?.issues).toEqual([
      { field: 'supplyVoltage', message: 'required' },
      { field: 'activePower', message: 'required' },
    ])
  })

  it('does not coerce strings, nulls or booleans into numbers', () => {
    for (const value of ['80', null, true, [80], { value: 80 }]) {
      const outcome = accepted(validate({ ...LAMP, commandedLevel: value }))
      expect(outcome.readings).toEqual([])
      expect(outcome.rejections[0]?.issues[0]?.field).toBe('commandedLevel')
    }
  })

  it('reports one issue per field, the kind range rather than the safe-integer bound', () => {
    const outcome = accepted(validate({ ...LAMP, commandedLevel: 2 ** 60 }))
    expect(outcome.rejections[0]?.issues).toEqual([{ field: 'commandedLevel', message: 'must be at most 100' }])
  })
})

describe('unknown fields', () => {
  it('drops them from the values and lists them once over the batch', () => {
    const outcome = accepted(validate([
      { ...LAMP, colourTemp: 3000, fw: '2.1' },
      { ...LAMP, colourTemp: 3100 },
      { ...LAMP, commandedLevel: 500, typo: 1 },
    ]))
    expect(outcome.readings.map((reading) => reading.values)).toEqual([LAMP, LAMP])
    expect(outcome.unknownFields).toEqual(['colourTemp', 'fw', 'typo'])
    expect(outcome.rejections.map((rejection) => rejection.index)).toEqual([2])
  })

  it('caps the list a single message can produce', () => {
    const reading: Record<string, unknown> = { ...LAMP }
    for (let i = 0; i < 1000; i++) reading[`k${i}`] = i
    const outcome = accepted(validate(reading))
    expect(outcome.readings).toHaveLength(1)
    expect(outcome.unknownFields).toHaveLength(32)
  })
})

describe('timestamps', () => {
  it('takes epoch milliseconds', () => {
    const outcome = accepted(validate({ ...LAMP, ts: NOW - 1234 }))
    expect(outcome.readings[0]).toMatchObject({ tsMs: NOW - 1234, tsGiven: true })
  })

  it('takes ISO-8601 with Z or an offset, to the millisecond', () => {
    const outcome = accepted(validate([
      { ...LAMP, ts: '2024-11-25T15:59:00Z' },
      { ...LAMP, ts: '2024-11-25T16:59:00.250+01:00' },
      { ...LAMP, ts: '2024-11-25T15:59:00.123456Z' },
    ]))
    expect(outcome.readings.map((reading) => reading.tsMs)).toEqual([NOW - MINUTE, NOW - MINUTE + 250, NOW - MINUTE + 123])
  })

  it('refuses ISO without offset and impossible dates', () => {
    const outcome = accepted(validate([{ ...LAMP, ts: '2024-11-25T15:59:00' }, { ...LAMP, ts: '2024-02-30T00:00:00Z' }, { ...LAMP, ts: -1 }]))
    expect(outcome.rejections.map((rejection) => [rejection.reason, rejection.issues[0]?.field])).toEqual([
      ['invalid_reading', 'ts'], ['invalid_reading', 'ts'], ['invalid_reading', 'ts'],
    ])
    expect(outcome.rejections[0]?.issues[0]?.message).toMatch(/ISO-8601/)
  })

  it('accepts 4 min ahead, refuses more than 5 min ahead', () => {
    const outcome = accepted(validate([
      { ...LAMP, ts: NOW + 4 * MINUTE },
      { ...LAMP, ts: NOW + 5 * MINUTE },
      { ...LAMP, ts: NOW + 5 * MINUTE + 1 },
      { ...LAMP, ts: new Date(NOW + 6 * MINUTE).toISOString() },
    ]))
    expect(outcome.readings.map((reading) => reading.index)).toEqual([0, 1])
    expect(outcome.rejections.map((rejection) => [rejection.index, rejection.reason])).toEqual([[2, 'ts_in_future'], [3, 'ts_in_future']])
    expect(outcome.rejections[1]?.issues).toEqual([{ field: 'ts', message: 'is 6 min ahead of the gateway clock (at most 5 min allowed)' }])
  })

  it('refuses readings older than the backfill window', () => {
    const outcome = accepted(validate([
      { ...LAMP, ts: NOW - 30 * DAY },
      { ...LAMP, ts: NOW - 30 * DAY - 1 },
      { ...LAMP, ts: 1_732_550 }, // epoch seconds by mistake: 1970
    ]))
    expect(outcome.readings.map((reading) => reading.index)).toEqual([0])
    expect(outcome.rejections.map((rejection) => rejection.reason)).toEqual(['ts_too_old', 'ts_too_old'])
    expect(outcome.rejections[0]?.issues[0]).toEqual({ field: 'ts', message: 'is 30 d old (at most 30 d allowed)' })
  })

  it('honours other windows', () => {
    const outcome = accepted(validate([{ ...LAMP, ts: NOW - 2 * DAY }, { ...LAMP, ts: NOW + 30_000 }], { backfillMs: DAY, maxFutureMs: 10_000 }))
    expect(outcome.rejections.map((rejection) => rejection.reason)).toEqual(['ts_too_old', 'ts_in_future'])
  })
})

describe('kinds', () => {
  it('validates with the kind it is given', () => {
    const payload = Buffer.from(JSON.stringify({ coverAngle: 95, coverOpen: true }))
    expect(accepted(validateTelemetry(manhole, payload, { ...validateDefaults, nowMs: NOW })).readings[0]?.values).toEqual({ coverAngle: 95, coverOpen: true })
    const asLamp = accepted(validateTelemetry(lampPost, payload, { ...validateDefaults, nowMs: NOW }))
    expect(asLamp.rejections[0]?.reason).toBe('invalid_reading')
    expect(asLamp.unknownFields).toEqual(['coverAngle', 'coverOpen'])
  })
})
