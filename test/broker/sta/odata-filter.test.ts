// The $filter parser: precedence and associativity, literals (strings, date-times, dates,
// geography), the SensorThings function table, and refusals; property tests: a printed tree parses
// back to itself, and no input makes the parser throw anything but a StaError.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FUNCTIONS, parseFilter, parseOrderKey, type Expr } from '../../../broker/sta/odata-filter.ts'
import { StaError } from '../../../broker/sta/sta-error.ts'

const path = (...segments: string[]): Expr => ({ type: 'path', segments })
const lit = (value: string | number | boolean | null): Expr => ({ type: 'literal', value })

describe('parseFilter', () => {
  it('binds or < and < comparison < add/sub < mul/div/mod < not', () => {
    expect(parseFilter('a eq 1 or b eq 2 and c eq 3')).toEqual({
      type: 'logical', op: 'or',
      left: { type: 'compare', op: 'eq', left: path('a'), right: lit(1) },
      right: { type: 'logical', op: 'and', left: { type: 'compare', op: 'eq', left: path('b'), right: lit(2) }, right: { type: 'compare', op: 'eq', left: path('c'), right: lit(3) } },
    })
    expect(parseFilter('result add 2 mul 3 gt 10')).toEqual({
      type: 'compare', op: 'gt',
      left: { type: 'arith', op: 'add', left: path('result'), right: { type: 'arith', op: 'mul', left: lit(2), right: lit(3) } },
      right: lit(10),
    })
    expect(parseFilter('(result add 2) mul 3 gt 10')).toMatchObject({ left: { op: 'mul', left: { op: 'add' } } })
    expect(parseFilter('10 sub 2 sub 3 eq 5')).toMatchObject({ left: { op: 'sub', left: { op: 'sub', left: lit(10), right: lit(2) }, right: lit(3) } })
    expect(parseFilter('not a eq 1')).toMatchObject({ type: 'compare', left: { type: 'not', operand: path('a') } })
    expect(parseFilter('not (a eq 1)')).toMatchObject({ type: 'not', operand: { type: 'compare' } })
  })

  it('reads literals: strings with quotes, numbers, booleans, null, date-times, dates, geography', () => {
    expect(parseFilter('name eq \'O\'\'Brien\'')).toMatchObject({ right: lit('O\'Brien') })
    expect(parseFilter('result eq -1.5e2')).toMatchObject({ right: lit(-150) })
    expect(parseFilter('a eq true or b eq null')).toMatchObject({ left: { right: lit(true) }, right: { right: lit(null) } })
    expect(parseFilter('phenomenonTime gt 2026-12-01T10:00:00+01:00')).toMatchObject({ right: { type: 'datetime', ms: Date.parse('2026-12-01T09:00:00Z') } })
    expect(parseFilter('date(phenomenonTime) eq 2026-12-01')).toMatchObject({ right: { type: 'date', text: '2026-12-01' } })
    expect(parseFilter('st_within(location, geography\'POLYGON((1 1, 2 1, 2 2, 1 1))\')')).toMatchObject({
      type: 'call', name: 'st_within', args: [path('location'), { type: 'geography', geometry: { type: 'Polygon', coordinates: [[[1, 1], [2, 1], [2, 2], [1, 1]]] } }],
    })
    expect(parseFilter('geo.distance(location, geography\'POINT(9.99 53.55)\') lt 0.01')).toMatchObject({ left: { name: 'geo.distance', args: [path('location'), { geometry: { type: 'Point', coordinates: [9.99, 53.55] } }] } })
    expect(parseFilter('Datastream/Thing/properties/district eq \'north\'')).toMatchObject({ left: path('Datastream', 'Thing', 'properties', 'district') })
  })

  it('knows every function of the SensorThings 1.1 table with its arity', () => {
    expect(Object.keys(FUNCTIONS).sort()).toEqual([
      'ceiling', 'concat', 'contains', 'date', 'day', 'endswith', 'floor', 'fractionalseconds', 'geo.distance', 'geo.intersects', 'geo.length', 'hour',
      'indexof', 'length', 'maxdatetime', 'mindatetime', 'minute', 'month', 'now', 'round', 'second', 'st_contains', 'st_crosses', 'st_disjoint', 'st_equals',
      'st_intersects', 'st_overlaps', 'st_relate', 'st_touches', 'st_within', 'startswith', 'substring', 'substringof', 'time', 'tolower', 'totaloffsetminutes',
      'toupper', 'trim', 'year',
    ])
    expect(parseFilter('substring(name, 1, 2) eq \'x\'')).toMatchObject({ left: { name: 'substring', args: [path('name'), lit(1), lit(2)] } })
    expect(() => parseFilter('substring(name) eq \'x\'')).toThrow(/substring\(\) takes 2–3/)
    expect(() => parseFilter('now(1) eq 1')).toThrow(/now\(\) takes 0/)
  })

  it('refuses what it cannot read, with the status the spec asks for', () => {
    const refusals: [string, number, RegExp][] = [
      ['name eq', 400, /expected an operand/],
      ['name eq \'open', 400, /unterminated string/],
      ['(name eq \'a\'', 400, /expected '\)'/],
      ['name eq \'a\' \'b\'', 400, /unexpected text/],
      ['name # 1', 400, /unexpected character/],
      ['median(result) gt 1', 501, /function median/],
      ['Datastreams/any(d: d/name eq \'x\')', 501, /lambda/],
      ['phenomenonTime gt duration\'P1D\'', 501, /typed literal/],
      ['phenomenonTime gt 2026-01-01T00:00:00.0001Z', 501, /finer than a millisecond/],
      ['st_within(location, geography\'MULTIPOLYGON(((1 1, 2 1, 2 2, 1 1)))\')', 501, /MULTIPOLYGON/],
      ['st_within(location, geography\'POLYGON((1 1, 2 1, 2 2))\')', 400, /ends where it starts/],
      [`${'('.repeat(100)}a${')'.repeat(100)}`, 400, /nested deeper/],
    ]
    for (const [text, status, message] of refusals) {
      try {
        parseFilter(text)
        expect.unreachable(text)
      } catch (err) {
        expect(err, text).toBeInstanceOf(StaError)
        expect((err as StaError).statusCode, text).toBe(status)
        expect((err as StaError).message, text).toMatch(message)
      }
    }
  })

  it('reads $orderby keys with their direction', () => {
    expect(parseOrderKey('phenomenonTime desc')).toEqual({ expr: path('phenomenonTime'), descending: true })
    expect(parseOrderKey('length(name) asc')).toEqual({ expr: { type: 'call', name: 'length', args: [path('name')] }, descending: false })
    expect(parseOrderKey('name')).toEqual({ expr: path('name'), descending: false })
  })
})

/** Prints a tree fully parenthesised, so parsing it back must give the same tree. */
function print (expr: Expr): string {
  switch (expr.type) {
    case 'literal': return typeof expr.value === 'string' ? `'${expr.value.replace(/'/g, '\'\'')}'` : String(expr.value)
    case 'datetime': return new Date(expr.ms).toISOString()
    case 'date': return expr.text
    case 'geography': return `geography'POINT(${(expr.geometry.coordinates as number[]).join(' ')})'`
    case 'path': return expr.segments.join('/')
    case 'call': return `${expr.name}(${expr.args.map(print).join(', ')})`
    case 'not': return `not (${print(expr.operand)})`
    default: return `(${print(expr.left)}) ${expr.op} (${print(expr.right)})`
  }
}

const name = fc.stringMatching(/^[a-z][A-Za-z0-9]{0,8}$/).filter((n) => !['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'and', 'or', 'not', 'add', 'sub', 'mul', 'div', 'mod', 'true', 'false', 'null', 'asc', 'desc'].includes(n) && !(n in FUNCTIONS))
/** -0 prints as 0: the round trip is about the parser, not about signed zeros. */
const noNegativeZero = (x: number): number => (x === 0 ? 0 : x)
const leaf: fc.Arbitrary<Expr> = fc.oneof(
  fc.string({ maxLength: 8 }).map(lit),
  fc.integer({ min: 0, max: 1_000_000 }).map(lit),
  fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }).map((x) => lit(noNegativeZero(x))),
  fc.boolean().map(lit),
  fc.constant(lit(null)),
  fc.integer({ min: 0, max: 4_102_444_800_000 }).map((ms): Expr => ({ type: 'datetime', ms })),
  fc.array(name, { minLength: 1, maxLength: 3 }).map((segments): Expr => ({ type: 'path', segments })),
  fc.tuple(fc.double({ min: -180, max: 180, noNaN: true }), fc.double({ min: -90, max: 90, noNaN: true })).map(([x, y]): Expr => ({ type: 'geography', geometry: { type: 'Point', coordinates: [noNegativeZero(x), noNegativeZero(y)] } })),
)
const tree = fc.letrec<{ expr: Expr }>((tie) => ({
  expr: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.tuple(fc.constantFrom('and', 'or' as const), tie('expr'), tie('expr')).map(([op, left, right]): Expr => ({ type: 'logical', op: op, left, right })),
    fc.tuple(fc.constantFrom('eq', 'ne', 'gt', 'ge', 'lt', 'le' as const), tie('expr'), tie('expr')).map(([op, left, right]): Expr => ({ type: 'compare', op: op as 'eq', left, right })),
    fc.tuple(fc.constantFrom('add', 'sub', 'mul', 'div', 'mod' as const), tie('expr'), tie('expr')).map(([op, left, right]): Expr => ({ type: 'arith', op: op as 'add', left, right })),
    tie('expr').map((operand): Expr => ({ type: 'not', operand })),
    fc.tuple(fc.constantFrom('tolower', 'round', 'year', 'length' as const), tie('expr')).map(([fn, arg]): Expr => ({ type: 'call', name: fn as 'tolower', args: [arg] })),
    fc.tuple(tie('expr'), tie('expr')).map(([a, b]): Expr => ({ type: 'call', name: 'concat', args: [a, b] })),
  ),
})).expr

describe('parseFilter properties', () => {
  it('parses a printed tree back to the same tree', () => {
    fc.assert(fc.property(tree, (expr) => {
      expect(parseFilter(print(expr))).toEqual(expr)
    }), { numRuns: 500 })
  })

  it('throws nothing but StaError, whatever the input', () => {
    const alphabet = fc.constantFrom(...'abc eqandornot()\',/-.0123456789:TZ geography\'POINT( )$@'.split(''))
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.array(alphabet, { maxLength: 60 }).map((a) => a.join(''))), (text) => {
      try {
        parseFilter(text)
      } catch (err) {
        expect(err).toBeInstanceOf(StaError)
      }
    }), { numRuns: 2000 })
  })
})
