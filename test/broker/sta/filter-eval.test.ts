// $filter evaluation: comparisons across types and null, logic, arithmetic, the string, date,
// math and spatial functions of SensorThings 1.1, each checked against a known answer.
import { describe, expect, it } from 'vitest'
import { evaluate, matches } from '../../../broker/sta/filter-eval.ts'
import { parseFilter } from '../../../broker/sta/odata-filter.ts'

const NOW = Date.parse('2026-12-01T12:34:56.789Z')
const entity: Record<string, unknown> = {
  name: 'Lamp 001',
  result: 42.5,
  count: 7,
  open: true,
  phenomenonTime: '2026-12-01T10:20:30.400Z',
  missing: null,
  location: { type: 'Point', coordinates: [9.99, 53.55] },
  properties: { district: 'north' },
}
const ctx = {
  nowMs: NOW,
  resolve (segments: readonly string[]): unknown {
    let value: unknown = entity
    for (const s of segments) value = (value as Record<string, unknown> | null)?.[s] ?? null
    return value
  },
}
const holds = (filter: string): boolean => matches(parseFilter(filter), ctx)
const value = (expression: string): unknown => evaluate(parseFilter(expression), ctx)

describe('filter evaluation', () => {
  it('compares numbers, strings, booleans, date-times and null', () => {
    for (const f of ['result eq 42.5', 'result ne 1', 'result gt 42', 'result ge 42.5', 'result lt 43', 'result le 42.5', 'name eq \'Lamp 001\'', 'name lt \'Lamp 1\'', 'open eq true',
      'phenomenonTime gt 2026-12-01T10:20:30Z', 'phenomenonTime eq 2026-12-01T11:20:30.4+01:00', 'missing eq null', 'name ne null', 'properties/district eq \'north\'']) {
      expect(holds(f), f).toBe(true)
    }
    for (const f of ['result gt 42.5', 'missing gt 1', 'missing lt 1', 'open gt 5', 'result eq \'42.5\'', 'unknown eq 1', 'phenomenonTime lt 2026-12-01T10:20:30Z']) {
      expect(holds(f), f).toBe(false)
    }
  })

  it('combines with and, or, not and parentheses', () => {
    expect(holds('result gt 40 and open eq true')).toBe(true)
    expect(holds('result gt 50 or open eq true')).toBe(true)
    expect(holds('not (result gt 50) and not (open eq false)')).toBe(true)
    expect(holds('not (result gt 40 and (open eq false or count eq 7))')).toBe(false)
  })

  it('does arithmetic, null on division by zero', () => {
    expect(value('count add 3')).toBe(10)
    expect(value('count sub 10')).toBe(-3)
    expect(value('count mul 2')).toBe(14)
    expect(value('count div 2')).toBe(3.5)
    expect(value('count mod 4')).toBe(3)
    expect(value('count div 0')).toBeNull()
    expect(value('missing add 1')).toBeNull()
  })

  it('runs the string functions', () => {
    expect(value('substringof(\'amp\', name)')).toBe(true)
    expect(value('substringof(name, \'amp\')')).toBe(false)
    expect(value('contains(name, \'001\')')).toBe(true)
    expect(value('startswith(name, \'Lamp\')')).toBe(true)
    expect(value('endswith(name, \'01\')')).toBe(true)
    expect(value('length(name)')).toBe(8)
    expect(value('indexof(name, \'001\')')).toBe(5)
    expect(value('substring(name, 5)')).toBe('001')
    expect(value('substring(name, 0, 4)')).toBe('Lamp')
    expect(value('tolower(name)')).toBe('lamp 001')
    expect(value('toupper(name)')).toBe('LAMP 001')
    expect(value('trim(\'  x \')')).toBe('x')
    expect(value('concat(name, \'!\')')).toBe('Lamp 001!')
    expect(() => value('length(result)')).toThrow(/takes a string/)
  })

  it('runs the date functions in UTC', () => {
    expect(['year', 'month', 'day', 'hour', 'minute', 'second'].map((f) => value(`${f}(phenomenonTime)`))).toEqual([2026, 12, 1, 10, 20, 30])
    expect(value('fractionalseconds(phenomenonTime)')).toBe(0.4)
    expect(value('date(phenomenonTime)')).toEqual({ date: '2026-12-01' })
    expect(holds('date(phenomenonTime) eq 2026-12-01')).toBe(true)
    expect(value('time(phenomenonTime)')).toBe('10:20:30.400')
    expect(value('totaloffsetminutes(phenomenonTime)')).toBe(0)
    expect(value('now()')).toEqual({ ms: NOW })
    expect(holds('phenomenonTime lt now() and phenomenonTime gt mindatetime() and phenomenonTime lt maxdatetime()')).toBe(true)
    expect(value('mindatetime()')).toEqual({ ms: Date.parse('0001-01-01T00:00:00Z') })
  })

  it('runs the math functions', () => {
    expect([value('round(result)'), value('floor(result)'), value('ceiling(result)'), value('round(-2.5)')]).toEqual([43, 42, 43, -3])
  })

  it('runs the spatial functions on GeoJSON values and geography literals', () => {
    expect(holds('st_within(location, geography\'POLYGON((9 53, 11 53, 11 54, 9 54, 9 53))\')')).toBe(true)
    expect(holds('st_within(location, geography\'POLYGON((9 53, 11 53, 11 54, 9 54, 9 53), (9.9 53.5, 10 53.5, 10 53.6, 9.9 53.6, 9.9 53.5))\')')).toBe(false)
    expect(holds('st_contains(geography\'POLYGON((9 53, 11 53, 11 54, 9 54, 9 53))\', location)')).toBe(true)
    expect(holds('st_intersects(location, geography\'LINESTRING(9.99 53, 9.99 54)\')')).toBe(true)
    expect(holds('geo.intersects(location, geography\'POINT(9.99 53.55)\') and st_equals(location, geography\'POINT(9.99 53.55)\')')).toBe(true)
    expect(holds('st_disjoint(location, geography\'POINT(0 0)\')')).toBe(true)
    expect(value('geo.distance(geography\'POINT(0 0)\', geography\'POINT(3 4)\')')).toBe(5)
    expect(value('geo.distance(geography\'POINT(1 5)\', geography\'LINESTRING(0 0, 0 10)\')')).toBe(1)
    expect(value('geo.length(geography\'LINESTRING(0 0, 3 4, 3 5)\')')).toBe(6)
    expect(() => value('st_within(geography\'LINESTRING(0 0, 1 1)\', location)')).toThrow(/not implemented: st_within of a LineString/)
    expect(() => value('st_overlaps(location, location)')).toThrow(/not implemented: function st_overlaps/)
  })
})
