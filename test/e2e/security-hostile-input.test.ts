// Hostile input against a real InfluxDB 1.x: the encoders' escaping (property-based with fast-check:
// whatever a string holds, it reads back exactly as the encoder promised), decoding + encoding of
// arbitrary readings (stored exactly, or rejected; never an exception), and hostile payloads sent
// through the gateway (rejected with a notice and kept in `rejected`, the gateway unharmed).
import fc from 'fast-check'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getKind } from '../../devices/index.ts'
import { cutUtf8, encodePoint, encodeRejected, encodeTelemetry, REJECTED_PAYLOAD_MAX_BYTES } from '../../broker/influx/line-protocol.ts'
import { validateTelemetry } from '../../broker/ingest/validate.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'
import { validateDefaults } from '../helpers/default-options.ts'

let influx: InfluxDb1Server
beforeAll(async () => { influx = await startInfluxDb1({ databases: ['city', 'fc'] }) })
afterAll(async () => { await influx?.close() })

async function write (lines: string[]): Promise<void> {
  const res = await fetch(`${influx.url}/write?db=fc&precision=ms`, { method: 'POST', body: lines.join('\n') })
  expect(res.status, await res.text()).toBe(204)
}

async function rows (q: string): Promise<{ columns: string[], values: unknown[][] }> {
  const [result] = await influx.query(q, 'fc')
  const series = result?.series?.[0]
  return { columns: series?.columns ?? [], values: series?.values ?? [] }
}

/** What a JS string becomes on the wire: lone surrogates turn into U+FFFD. */
const wire = (text: string): string => Buffer.from(text, 'utf8').toString('utf8')

describe('line-protocol escaping, read back from InfluxDB', () => {
  it('keeps any payload bytes and any issues text of a rejected point exactly as encodeRejected promises', async () => {
    const hostile = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.constantFrom('\\', '\\"', 'a\\', '"', '\n\r', 'x=1,y=2 z', '\u0000\u0001\t', '"}\n,foo=bar x=1 1', '\\n'))
    const samples = fc.sample(fc.record({ payload: fc.oneof(fc.uint8Array({ maxLength: 5000 }), hostile.map((s) => new TextEncoder().encode(s))), issues: hostile }), { numRuns: 150, seed: 5 })
    const base = Date.now() - 3_600_000
    await write(samples.map((s, i) => encodeRejected({ deviceId: 'fc-rejected', reason: 'invalid_json', payload: s.payload, issues: s.issues, tsMs: base + i })))
    const { columns, values } = await rows("SELECT payload, issues FROM rejected WHERE device_id = 'fc-rejected'")
    expect(values).toHaveLength(samples.length)
    const payloadAt = columns.indexOf('payload')
    const issuesAt = columns.indexOf('issues')
    values.forEach((row, i) => {
      const sample = samples[i]!
      const decoded = new TextDecoder().decode(sample.payload.subarray(0, REJECTED_PAYLOAD_MAX_BYTES + 3))
      expect(row[payloadAt]).toBe(wire(cutUtf8(decoded, REJECTED_PAYLOAD_MAX_BYTES)))
      expect(row[issuesAt]).toBe(wire(cutUtf8(sample.issues, 4096)))
    })
  })

  it('keeps tag values with commas, spaces, equals signs, quotes and any Unicode exactly', async () => {
    // Backslashes cannot reach a tag: ids and districts are 1–64 of A-Z a-z 0-9 - _ . (registry).
    const tag = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\\') && !/[\n\r]/.test(s) && s.trim() === s && s !== '')
    const samples = fc.sample(tag, { numRuns: 100, seed: 7 })
    const base = Date.now() - 3_600_000
    await write(samples.map((value, i) => encodePoint('fc_tags', { district: value, n: String(i) }, [{ key: 'v', type: 'integer', value: i }], base + i)))
    const { columns, values } = await rows('SELECT v, district FROM fc_tags')
    const byN = new Map(values.map((row) => [row[columns.indexOf('v')], row[columns.indexOf('district')]]))
    samples.forEach((value, i) => { expect(byN.get(i)).toBe(wire(value)) })
  })
})

describe('decoding and encoding arbitrary readings', () => {
  it('either stores a reading that reads back exactly, or rejects it; nothing throws', async () => {
    const kind = getKind('manhole')!
    const hostile = fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string({ maxLength: 5 }), fc.constant(null))
    const value = fc.oneof({ arbitrary: fc.double({ min: 0, max: 20, noNaN: true }), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 100 }), weight: 2 }, { arbitrary: hostile, weight: 1 })
    const reading = fc.record({
      coverAngle: fc.oneof({ arbitrary: fc.double({ min: 0, max: 180, noNaN: true }), weight: 6 }, { arbitrary: hostile, weight: 1 }),
      coverOpen: fc.oneof(fc.boolean(), hostile), waterLevel: value, h2s: value, battery: value,
      seq: fc.oneof({ arbitrary: fc.nat(), weight: 4 }, { arbitrary: hostile, weight: 1 }),
      rssi: fc.oneof({ arbitrary: fc.integer({ min: -150, max: 0 }), weight: 4 }, { arbitrary: hostile, weight: 1 }),
      extra: fc.option(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 })),
    }, { requiredKeys: ['coverAngle'] })
    const nowMs = Date.now()
    const lines: string[] = []
    const expected: { tag: string, values: Record<string, number | boolean> }[] = []
    let rejected = 0
    fc.assert(fc.property(fc.oneof(fc.array(reading, { minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b))), (input) => {
      const payload = Buffer.isBuffer(input) ? input : Buffer.from(JSON.stringify(input))
      const outcome = validateTelemetry(kind, payload, { ...validateDefaults, nowMs })
      if (!outcome.ok) { rejected++; return }
      rejected += outcome.rejections.length
      for (const r of outcome.readings) {
        const tag = `fc-${expected.length}`
        lines.push(encodeTelemetry(kind, { deviceId: tag, district: 'prop' }, r))
        expected.push({ tag, values: { ...r.values } })
      }
    }), { numRuns: 400, seed: 11 })
    expect(expected.length).toBeGreaterThan(10)
    expect(rejected).toBeGreaterThan(10)
    for (let i = 0; i < lines.length; i += 1000) await write(lines.slice(i, i + 1000))
    const { columns, values } = await rows("SELECT * FROM manhole WHERE district = 'prop'")
    expect(values).toHaveLength(expected.length)
    const byTag = new Map(values.map((row) => [row[columns.indexOf('device_id')], row]))
    for (const { tag, values: fields } of expected) {
      const row = byTag.get(tag)!
      for (const [field, v] of Object.entries(fields)) expect(row[columns.indexOf(field)], `${tag}.${field}`).toBe(v)
    }
  })
})

describe('hostile payloads through the gateway', () => {
  let gw: TestGateway
  let client: MqttClient
  beforeAll(async () => {
    gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1' } })
    const { secret } = await registerDevice(gw.dataDir, 'hostile-1', 'manhole', 'north')
    await gw.gateway.reloadRegistry()
    client = await connectDevice(gw.mqttUrl, 'hostile-1', secret)
  })
  afterAll(async () => {
    await client?.endAsync(true)
    await gw?.close(true)
  })

  const cases: [string, string | Buffer, string][] = [
    ['__proto__', '{"coverAngle":1,"__proto__":{"isAdmin":true}}', 'forbidden_key'],
    ['constructor', '{"coverAngle":1,"constructor":{"prototype":{"x":1}}}', 'forbidden_key'],
    ['deep nesting', `${'['.repeat(20_000)}${']'.repeat(20_000)}`, 'invalid_reading'],
    ['deep objects', `{"coverAngle":1,"x":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`, 'ok'],
    ['a huge array', `[${Array.from({ length: 30_000 }, () => '0').join(',')}]`, 'batch_too_large'],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 'invalid_utf8'],
    ['NaN', '{"coverAngle":NaN}', 'invalid_json'],
    ['Infinity', '{"coverAngle":Infinity}', 'invalid_json'],
    ['-Infinity', '{"coverAngle":-Infinity}', 'invalid_json'],
    ['1e999', '{"coverAngle":1e999}', 'invalid_reading'],
    ['a number as a string', '{"coverAngle":"12.5"}', 'invalid_reading'],
    ['"NaN" as a string', '{"coverAngle":"NaN"}', 'invalid_reading'],
    ['line protocol in a string', '{"coverAngle":"1\\nmanhole,device_id=x coverAngle=1 0"}', 'invalid_reading'],
    ['a string', '"\\" ,= \\n"', 'not_object_or_array'],
  ]

  it('rejects each with a notice, keeps it in `rejected`, stores no telemetry from it and stays up', async () => {
    const notices = await collect(client, 'devices/hostile-1/errors')
    for (const [, payload] of cases) await client.publishAsync('devices/hostile-1/telemetry', payload, { qos: 1 })
    await notices.waitFor(cases.length)
    cases.forEach(([name, , reason], i) => {
      const notice = notices.json(i)
      if (reason === 'ok') {
        // Deep nesting in an unknown field costs nothing: the reading is stored, the field named.
        expect(notice, name).toMatchObject({ status: 'unknown_fields', unknownFields: ['x'] })
        return
      }
      expect(notice.status, name).toBe('rejected')
      expect(notice.reason ?? (notice.readings as { reason: string }[] | undefined)?.[0]?.reason, name).toBe(reason)
    })
    const refused = cases.filter(([, , reason]) => reason !== 'ok').length
    const [result] = await eventually(() => influx.query("SELECT count(payload) FROM rejected WHERE device_id = 'hostile-1'", 'city'), (r) => r[0]?.series?.[0]?.values[0]?.[1] === refused, { what: 'every hostile message in `rejected`' })
    expect(result?.series?.[0]?.values[0]?.[1]).toBe(refused)
    const [telemetry] = await influx.query("SELECT coverAngle FROM manhole WHERE device_id = 'hostile-1'", 'city')
    expect(telemetry?.series?.[0]?.values.map((row) => row[1])).toEqual([1])
    expect(client.connected).toBe(true)
    expect(gw.logs().filter((line) => (line.level as number) >= 50)).toEqual([])
  })
})
