// Line-protocol encoders: exact lines, field types per kind, escaping of hostile strings (checked by
// parsing the line back with the InfluxDB 2.x rules), the 4 KiB cut, and one-line-per-point properties.
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { kinds, kindNames } from '../../../devices/index.ts'
import { kindJsonSchema } from '../../../devices/json-schema.ts'
import { lampPost } from '../../../devices/lamp-post.ts'
import { manhole } from '../../../devices/manhole.ts'
import {
  cutUtf8,
  encodeAlarm,
  encodePoint,
  encodeRejected,
  encodeTelemetry,
  escapeFieldString,
  escapeMeasurement,
  escapeTag,
  type PointField,
} from '../../../broker/influx/line-protocol.ts'
import { validateTelemetry, type ValidReading } from '../../../broker/ingest/validate.ts'
import { validateDefaults } from '../../helpers/default-options.ts'

const TS = 1732550400000
const TAGS = { deviceId: 'lp-1', district: 'north' }

function reading (values: Record<string, number | boolean>, tsMs = TS): ValidReading {
  return { index: 0, tsMs, tsGiven: true, values }
}

/** A line split back into its parts the way InfluxDB 2.x reads it: a backslash takes the next character literally. */
function parseLine (line: string): { measurement: string, tags: Record<string, string>, fields: Record<string, string>, ts: string } {
  let i = 0
  const readUntil = (stops: string): string => {
    let out = ''
    while (i < line.length && !stops.includes(line[i] as string)) {
      if (line[i] === '\\' && i + 1 < line.length) i++
      out += line[i]
      i++
    }
    return out
  }
  const measurement = readUntil(', ')
  const tags: Record<string, string> = {}
  while (line[i] === ',') {
    i++
    const key = readUntil('=')
    i++
    tags[key] = readUntil(', ')
  }
  expect(line[i]).toBe(' ')
  i++
  const fields: Record<string, string> = {}
  for (;;) {
    const key = readUntil('=')
    i++
    if (line[i] === '"') {
      i++
      fields[key] = `"${readUntil('"')}"`
      i++
    } else {
      fields[key] = readUntil(', ')
    }
    if (line[i] !== ',') break
    i++
  }
  expect(line[i]).toBe(' ')
  const ts = line.slice(i + 1)
  expect(ts).toMatch(/^-?\d+$/)
  return { measurement, tags, fields, ts }
}

/** What InfluxDB keeps of a string we sent: newlines become the text `\n` / `\r`. */
const stored = (text: string): string => text.replace(/\n/g, '\\n').replace(/\r/g, '\\r')

describe('encodeTelemetry', () => {
  it('writes the contract example exactly', () => {
    const line = encodeTelemetry(lampPost, TAGS, reading({ commandedLevel: 80, supplyVoltage: 231.5, activePower: 42, doorOpen: false }))
    expect(line).toBe('lamp_post,device_id=lp-1,district=north commandedLevel=80i,supplyVoltage=231.5,activePower=42,doorOpen=false 1732550400000')
  })

  it('orders fields as the kind does, whatever the order of the values, with seq and rssi last', () => {
    const line = encodeTelemetry(lampPost, TAGS, reading({ rssi: -87, lampFailure: true, seq: 7, activePower: 0, supplyVoltage: 230, commandedLevel: 0, actualLevel: 3 }))
    expect(line).toBe('lamp_post,device_id=lp-1,district=north commandedLevel=0i,actualLevel=3i,supplyVoltage=230,activePower=0,lampFailure=true,seq=7i,rssi=-87 1732550400000')
  })

  it('writes floats without the i suffix even when whole, and tiny or huge floats in exponent form', () => {
    const line = encodeTelemetry(manhole, TAGS, reading({ coverAngle: 0.0000001, h2s: 200, coverOpen: true }))
    expect(line).toBe('manhole,device_id=lp-1,district=north coverAngle=1e-7,coverOpen=true,h2s=200 1732550400000')
    const energy = encodeTelemetry(lampPost, TAGS, reading({ commandedLevel: 1, supplyVoltage: 1, activePower: 1, activeEnergy: 1e21 }))
    expect(energy).toContain(',activeEnergy=1e+21 ')
  })

  it('escapes hostile tags and never breaks the line', () => {
    const line = encodeTelemetry(lampPost, { deviceId: 'a b,c=d', district: 'x\\\ny' }, reading({ commandedLevel: 1, supplyVoltage: 2, activePower: 3 }))
    expect(line).toBe('lamp_post,device_id=a\\ b\\,c\\=d,district=x\\\\\\\\ny commandedLevel=1i,supplyVoltage=2,activePower=3 1732550400000')
    expect(parseLine(line).tags).toEqual({ device_id: 'a b,c=d', district: 'x\\\\ny' })
  })

  it('refuses values that would poison a batch', () => {
    expect(() => encodeTelemetry(lampPost, TAGS, reading({ commandedLevel: 1.5, supplyVoltage: 1, activePower: 1 }))).toThrow(RangeError)
    expect(() => encodeTelemetry(lampPost, TAGS, reading({ commandedLevel: 1, supplyVoltage: Number.NaN, activePower: 1 }))).toThrow(RangeError)
    expect(() => encodeTelemetry(lampPost, TAGS, reading({ commandedLevel: 1, supplyVoltage: 1, activePower: 1, doorOpen: 1 }))).toThrow(RangeError)
    expect(() => encodeTelemetry(lampPost, TAGS, reading({}))).toThrow(RangeError)
  })

  it('truncates a fractional timestamp', () => {
    expect(encodeTelemetry(manhole, TAGS, reading({ coverAngle: 1 }, TS + 0.9))).toMatch(/ 1732550400000$/)
  })
})

describe('encodePoint', () => {
  const fields: PointField[] = [
    { key: 'state', type: 'string', value: 'active' },
    { key: 'value', type: 'float', value: 12.5 },
    { key: 'count', type: 'integer', value: 3 },
    { key: 'acked', type: 'boolean', value: false },
  ]

  it('sorts tags by key and omits empty tag values', () => {
    expect(encodePoint('alarms', { severity: 'critical', device_id: 'mh-7', kind: 'manhole', location: '' }, fields, TS))
      .toBe('alarms,device_id=mh-7,kind=manhole,severity=critical state="active",value=12.5,count=3i,acked=false 1732550400000')
  })

  it('works without tags', () => {
    expect(encodePoint('m', {}, [{ key: 'v', type: 'float', value: -0 }], 0)).toBe('m v=0 0')
  })

  it('refuses a point without fields, and bad numbers or timestamps', () => {
    expect(() => encodePoint('m', {}, [], TS)).toThrow(RangeError)
    expect(() => encodePoint('m', {}, [{ key: 'v', type: 'float', value: Infinity }], TS)).toThrow(RangeError)
    expect(() => encodePoint('m', {}, [{ key: 'v', type: 'integer', value: 2 ** 53 }], TS)).toThrow(RangeError)
    expect(() => encodePoint('m', {}, [{ key: 'v', type: 'float', value: 1 }], Number.NaN)).toThrow(RangeError)
    expect(() => encodePoint('m', {}, [{ key: 'v', type: 'float', value: 1 }], 1e300)).toThrow(RangeError)
  })

  it('escapes every element and reads back as sent', () => {
    const hostile = 'we"ird, key= \\ \n\r\tend\\'
    const line = encodePoint(hostile, { [hostile]: hostile }, [{ key: hostile, type: 'string', value: hostile }], TS)
    expect(line.split('\n')).toHaveLength(1)
    expect(line).not.toMatch(/\r/)
    expect(parseLine(line)).toEqual({
      measurement: stored(hostile),
      tags: { [stored(hostile)]: stored(hostile) },
      fields: { [stored(hostile)]: `"${stored(hostile)}"` },
      ts: String(TS),
    })
  })
})

describe('escaping', () => {
  it('follows the special-character table', () => {
    expect(escapeMeasurement('my measure,x=1')).toBe('my\\ measure\\,x=1')
    expect(escapeTag('a b,c=d')).toBe('a\\ b\\,c\\=d')
    expect(escapeFieldString('say "hi", a=b')).toBe('say \\"hi\\", a=b')
  })

  it('doubles backslashes so a trailing one cannot swallow a separator', () => {
    expect(escapeTag('C:\\')).toBe('C:\\\\')
    expect(escapeMeasurement('m\\')).toBe('m\\\\')
    expect(escapeFieldString('end\\')).toBe('end\\\\')
  })

  it('turns CR and LF into the text \\r and \\n', () => {
    expect(escapeFieldString('a\nb\r\nc')).toBe('a\\\\nb\\\\r\\\\nc')
    expect(escapeTag('a\nb')).toBe('a\\\\nb')
    expect(escapeMeasurement('a\rb')).toBe('a\\\\rb')
  })

  it('leaves everything else alone', () => {
    expect(escapeTag('ünïcødé-€-😀_.')).toBe('ünïcødé-€-😀_.')
    expect(escapeFieldString("tab\tquote' ok")).toBe("tab\tquote' ok")
  })
})

describe('encodeAlarm', () => {
  const base = {
    deviceId: 'wp-1', district: 'old town', kind: 'water-pipe', type: 'lowPressure', severity: 'minor', state: 'active',
    value: 1.4, threshold: 1.5, message: 'Pressure 1.4 bar', alarmId: 'a-1', tsMs: TS,
  }

  it('writes a raise with its id and change, and no acknowledgement fields', () => {
    expect(encodeAlarm({ ...base, change: 'raised', ackedBy: 'crew', ackSec: 3, clearSec: 4 }))
      .toBe('alarms,device_id=wp-1,district=old\\ town,kind=water-pipe,severity=minor,type=lowPressure state="active",value=1.4,threshold=1.5,message="Pressure 1.4 bar",alarm_id="a-1",change="raised" 1732550400000')
  })

  it('writes who acknowledged, the note and the seconds since the raise on an acknowledged point', () => {
    const line = encodeAlarm({ ...base, state: 'acknowledged', change: 'acknowledged', ackedBy: 'crew-north', ackNote: 'on "our" way\nnow', ackSec: 42.5 })
    expect(parseLine(line).fields).toEqual({
      state: '"acknowledged"', value: '1.4', threshold: '1.5', message: '"Pressure 1.4 bar"', alarm_id: '"a-1"', change: '"acknowledged"',
      acked_by: '"crew-north"', note: '"on "our" way\\nnow"', ack_sec: '42.5',
    })
    // Without a note the field is left out; ack_sec stays a float field even when whole.
    expect(encodeAlarm({ ...base, state: 'acknowledged', change: 'acknowledged', ackedBy: 'c', ackSec: 60 })).toMatch(/,change="acknowledged",acked_by="c",ack_sec=60 /)
  })

  it('writes the seconds from raise to clear on a cleared point only', () => {
    expect(encodeAlarm({ ...base, state: 'cleared', change: 'cleared', clearSec: 3600.25, ackSec: 5 })).toMatch(/,alarm_id="a-1",change="cleared",clear_sec=3600.25 1732550400000$/)
    expect(encodeAlarm({ ...base, change: 'escalated', severity: 'critical', clearSec: 1 })).toMatch(/,severity=critical,.*,change="escalated" 1732550400000$/)
  })

  it('leaves out numbers that are not finite instead of refusing the point', () => {
    const line = encodeAlarm({ ...base, value: Number.NaN, state: 'cleared', change: 'cleared', clearSec: Number.NaN })
    expect(parseLine(line).fields).toEqual({ state: '"cleared"', threshold: '1.5', message: '"Pressure 1.4 bar"', alarm_id: '"a-1"', change: '"cleared"' })
  })
})

describe('encodeRejected', () => {
  it('writes the rejected measurement exactly', () => {
    const line = encodeRejected({ deviceId: 'lp-1', reason: 'invalid_json', payload: Buffer.from('{"commandedLevel": NaN}'), issues: 'Unexpected token "N"', tsMs: TS })
    expect(line).toBe('rejected,device_id=lp-1,reason=invalid_json payload="{\\"commandedLevel\\": NaN}",issues="Unexpected token \\"N\\"" 1732550400000')
  })

  it('stores a multi-line payload on one line', () => {
    const line = encodeRejected({ deviceId: 'lp-1', reason: 'invalid_json', payload: Buffer.from('{\n  "a": 1\r\n'), issues: 'x', tsMs: TS })
    expect(line.split('\n')).toHaveLength(1)
    expect(parseLine(line).fields.payload).toBe('"{\\n  \\"a\\": 1\\r\\n"'.replace(/\\"/g, '"'))
  })

  it('replaces invalid UTF-8 bytes', () => {
    const line = encodeRejected({ deviceId: 'lp-1', reason: 'invalid_utf8', payload: Buffer.from([0x7b, 0xff, 0x7d]), issues: 'x', tsMs: TS })
    expect(parseLine(line).fields.payload).toBe('"{\uFFFD}"')
  })

  const payloadOf = (payload: Buffer): string => {
    const value = parseLine(encodeRejected({ deviceId: 'd', reason: 'r', payload, issues: 'i', tsMs: TS })).fields.payload ?? ''
    return value.slice(1, -1)
  }

  it('cuts the payload to 4 KiB without splitting a character', () => {
    const fits = payloadOf(Buffer.from('a'.repeat(4094) + 'é' + 'tail'))
    expect(fits).toBe('a'.repeat(4094) + 'é')
    expect(Buffer.byteLength(fits)).toBe(4096)

    const euro = payloadOf(Buffer.from('a'.repeat(4095) + '€€'))
    expect(euro).toBe('a'.repeat(4095))

    const emoji = payloadOf(Buffer.from('a'.repeat(4093) + '😀'))
    expect(emoji).toBe('a'.repeat(4093))

    const short = payloadOf(Buffer.from('€'.repeat(10)))
    expect(short).toBe('€'.repeat(10))
  })

  it('measures the cut on what is stored (newlines as two characters)', () => {
    const text = payloadOf(Buffer.from('\n'.repeat(5000)))
    expect(text).toBe('\\n'.repeat(2048))
  })

  it('cuts long issues too', () => {
    const line = encodeRejected({ deviceId: 'd', reason: 'r', payload: Buffer.from('{}'), issues: 'x'.repeat(10_000), tsMs: TS })
    expect(parseLine(line).fields.issues).toBe(`"${'x'.repeat(4096)}"`)
  })

  it('never splits a character at any cut', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.integer({ min: 0, max: 64 }), (text, maxBytes) => {
      const cut = cutUtf8(text, maxBytes)
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(maxBytes)
      expect(stored(text).startsWith(cut)).toBe(true)
      expect(cut).not.toMatch(/[\uD800-\uDBFF]$/)
    }))
  })
})

describe('properties', () => {
  /** Any valid reading of a kind, built from its JSON Schema so it tracks the kind file. */
  function arbitraryPayload (name: (typeof kindNames)[number]): fc.Arbitrary<Record<string, unknown>> {
    const schema = kindJsonSchema(kinds[name]) as { properties: Record<string, { type?: string, minimum?: number, maximum?: number }>, required: string[] }
    const model: Record<string, fc.Arbitrary<unknown>> = {}
    for (const [field, property] of Object.entries(schema.properties)) {
      if (field === 'ts') continue
      const min = property.minimum ?? -1e9
      const max = Math.min(property.maximum ?? 1e12, 1e12)
      if (property.type === 'boolean') model[field] = fc.boolean()
      else if (property.type === 'integer') model[field] = fc.integer({ min, max: Math.min(max, 2 ** 31 - 1) })
      else model[field] = fc.double({ min, max, noNaN: true, noDefaultInfinity: true })
    }
    return fc.record(model, { requiredKeys: schema.required })
  }

  it.each(kindNames)('a valid %s reading is one well-formed line with the kind types', (name) => {
    const kind = kinds[name]
    const tag = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 })
    fc.assert(fc.property(arbitraryPayload(name), tag, tag, fc.integer({ min: TS - 86_400_000, max: TS }), (payload, deviceId, district, ts) => {
      const outcome = validateTelemetry(kind, Buffer.from(JSON.stringify({ ...payload, ts })), { ...validateDefaults, nowMs: TS })
      if (!outcome.ok) throw new Error(outcome.reason)
      const valid = outcome.readings[0]
      expect(valid).toBeDefined()
      if (valid === undefined) return
      const line = encodeTelemetry(kind, { deviceId, district }, valid)
      expect(line).not.toMatch(/[\n\r]/)
      const parsed = parseLine(line)
      expect(parsed.measurement).toBe(kind.measurement)
      expect(parsed.tags).toEqual({ device_id: stored(deviceId), district: stored(district) })
      expect(parsed.ts).toBe(String(ts))
      expect(Object.keys(parsed.fields)).toEqual(kind.fieldNames.filter((field) => valid.values[field] !== undefined))
      for (const [field, text] of Object.entries(parsed.fields)) {
        const type = kind.fieldTypes[field]
        if (type === 'integer') expect(text).toBe(`${String(valid.values[field])}i`)
        else if (type === 'boolean') expect(text).toBe(String(valid.values[field]))
        else expect(Number(text)).toBe(valid.values[field])
      }
    }), { numRuns: 300 })
  })

  it('a rejected point of any payload is one line', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 6000 }), fc.string({ maxLength: 200 }), (payload, issues) => {
      const line = encodeRejected({ deviceId: 'lp-1', reason: 'invalid_json', payload, issues, tsMs: TS })
      expect(line).not.toMatch(/[\n\r]/)
      const parsed = parseLine(line)
      expect(Object.keys(parsed.fields)).toEqual(['payload', 'issues'])
      expect(Buffer.byteLength((parsed.fields.payload ?? '').slice(1, -1))).toBeLessThanOrEqual(4096)
    }), { numRuns: 200 })
  })
})
