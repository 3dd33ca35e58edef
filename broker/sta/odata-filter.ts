// A $filter (or one $orderby key) text in; an expression tree out, by recursive descent over the
// OData precedence: or < and < eq ne gt ge lt le < add sub < mul div mod < not, unary - < primary.
// Only functions of the SensorThings 1.1 filter table parse; any other name is a 501 naming it.
import { tokenize, type Token } from './odata-lexer.ts'
import { notImplemented, StaError } from './sta-error.ts'
import { parseWkt, type Geometry } from './wkt.ts'

export type Comparison = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'
export type Arithmetic = 'add' | 'sub' | 'mul' | 'div' | 'mod'

export type Expr =
  | { type: 'literal'; value: string | number | boolean | null }
  | { type: 'datetime'; ms: number }
  | { type: 'date'; text: string }
  | { type: 'geography'; geometry: Geometry }
  | { type: 'path'; segments: string[] }
  | { type: 'call'; name: FunctionName; args: Expr[] }
  | { type: 'not'; operand: Expr }
  | { type: 'logical'; op: 'and' | 'or'; left: Expr; right: Expr }
  | { type: 'compare'; op: Comparison; left: Expr; right: Expr }
  | { type: 'arith'; op: Arithmetic; left: Expr; right: Expr }

/** Every function of the SensorThings 1.1 filter table, with how many arguments it takes. */
export const FUNCTIONS = {
  substringof: [2, 2], endswith: [2, 2], startswith: [2, 2], contains: [2, 2], length: [1, 1], indexof: [2, 2],
  substring: [2, 3], tolower: [1, 1], toupper: [1, 1], trim: [1, 1], concat: [2, 2],
  year: [1, 1], month: [1, 1], day: [1, 1], hour: [1, 1], minute: [1, 1], second: [1, 1], fractionalseconds: [1, 1],
  date: [1, 1], time: [1, 1], totaloffsetminutes: [1, 1], now: [0, 0], mindatetime: [0, 0], maxdatetime: [0, 0],
  round: [1, 1], floor: [1, 1], ceiling: [1, 1],
  'geo.distance': [2, 2], 'geo.length': [1, 1], 'geo.intersects': [2, 2],
  st_equals: [2, 2], st_disjoint: [2, 2], st_touches: [2, 2], st_within: [2, 2], st_overlaps: [2, 2],
  st_crosses: [2, 2], st_intersects: [2, 2], st_contains: [2, 2], st_relate: [3, 3],
} as const satisfies Record<string, readonly [number, number]>
export type FunctionName = keyof typeof FUNCTIONS

const COMPARISONS = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le'])
const ADDITIVE = new Set<string>(['add', 'sub'])
const MULTIPLICATIVE = new Set<string>(['mul', 'div', 'mod'])
/** Deepest nesting of parentheses and calls: a recursive parser must not be driven into a stack overflow. */
const MAX_DEPTH = 64

function isFunctionName (name: string): name is FunctionName {
  return Object.hasOwn(FUNCTIONS, name)
}

export function parseFilter (text: string): Expr {
  // Lambda operators carry a syntax of their own (`d: d/name`) the lexer would refuse as a typo.
  const lambda = /\/\s*(any|all)\s*\(/.exec(text)
  if (lambda !== null) throw notImplemented(`lambda operator ${lambda[1] as string}`)
  const parser = createParser(tokenize(text), text)
  const expr = parser.expression()
  parser.expectEnd()
  return expr
}

/** One $orderby key: an expression and an optional asc/desc. */
export function parseOrderKey (text: string): { expr: Expr; descending: boolean } {
  const tokens = tokenize(text)
  const last = tokens.at(-1)
  let descending = false
  if (last?.kind === 'name' && (last.text === 'asc' || last.text === 'desc')) {
    descending = last.text === 'desc'
    tokens.pop()
  }
  const parser = createParser(tokens, text)
  const expr = parser.expression()
  parser.expectEnd()
  return { expr, descending }
}

function createParser (tokens: Token[], text: string) {
  let pos = 0
  let depth = 0

  function peek (): Token | undefined { return tokens[pos] }
  function fail (message: string): never {
    const token = peek()
    throw new StaError(400, `${message} at ${token === undefined ? `end of '${text}'` : `position ${token.at}`}`)
  }
  function isName (token: Token | undefined, names: Set<string>): token is Token & { kind: 'name' } {
    return token?.kind === 'name' && names.has(token.text)
  }
  function isPunct (token: Token | undefined, text: string): boolean {
    return token?.kind === 'punct' && token.text === text
  }
  function expect (punct: string): void {
    if (!isPunct(peek(), punct)) fail(`expected '${punct}'`)
    pos++
  }
  function enter (): void {
    if (++depth > MAX_DEPTH) fail(`expression nested deeper than ${MAX_DEPTH}`)
  }

  function expression (): Expr {
    enter()
    try { return or() } finally { depth-- }
  }
  function or (): Expr {
    let left = and()
    while (isName(peek(), new Set(['or']))) {
      pos++
      left = { type: 'logical', op: 'or', left, right: and() }
    }
    return left
  }
  function and (): Expr {
    let left = comparison()
    while (isName(peek(), new Set(['and']))) {
      pos++
      left = { type: 'logical', op: 'and', left, right: comparison() }
    }
    return left
  }
  function comparison (): Expr {
    let left = additive()
    let token = peek()
    while (isName(token, COMPARISONS)) {
      pos++
      left = { type: 'compare', op: token.text as Comparison, left, right: additive() }
      token = peek()
    }
    return left
  }
  function additive (): Expr {
    let left = multiplicative()
    let token = peek()
    while (isName(token, ADDITIVE)) {
      pos++
      left = { type: 'arith', op: token.text as Arithmetic, left, right: multiplicative() }
      token = peek()
    }
    return left
  }
  function multiplicative (): Expr {
    let left = unary()
    let token = peek()
    while (isName(token, MULTIPLICATIVE)) {
      pos++
      left = { type: 'arith', op: token.text as Arithmetic, left, right: unary() }
      token = peek()
    }
    return left
  }
  function unary (): Expr {
    const token = peek()
    if (token?.kind === 'name' && token.text === 'not') {
      pos++
      enter()
      try { return { type: 'not', operand: unary() } } finally { depth-- }
    }
    return primary()
  }
  function primary (): Expr {
    const token = peek()
    if (token === undefined) fail('expected an operand')
    pos++
    switch (token.kind) {
      case 'number': return { type: 'literal', value: token.value }
      case 'string': return { type: 'literal', value: token.value }
      case 'datetime': return { type: 'datetime', ms: token.ms }
      case 'date': return { type: 'date', text: token.text }
      case 'geography': return { type: 'geography', geometry: parseWkt(token.wkt) }
      case 'punct': {
        if (token.text !== '(') {
          pos--
          fail(`unexpected '${token.text}'`)
        }
        const inner = expression()
        expect(')')
        return inner
      }
      case 'name': return named(token.text)
    }
  }
  function named (name: string): Expr {
    if (name === 'true' || name === 'false') return { type: 'literal', value: name === 'true' }
    if (name === 'null') return { type: 'literal', value: null }
    const next = peek()
    if (next?.kind === 'string') throw notImplemented(`typed literal ${name}'…'`)
    if (isPunct(next, '(')) return call(name)
    const segments = [name]
    while (isPunct(peek(), '/')) {
      pos++
      const segment = peek()
      if (segment?.kind !== 'name') fail('expected a property name after \'/\'')
      if (segment.text === 'any' || segment.text === 'all') throw notImplemented(`lambda operator ${segment.text}`)
      segments.push(segment.text)
      pos++
    }
    return { type: 'path', segments }
  }
  function call (name: string): Expr {
    if (!isFunctionName(name)) throw notImplemented(`function ${name}()`)
    pos++ // (
    enter()
    const args: Expr[] = []
    try {
      if (!isPunct(peek(), ')')) {
        args.push(expression())
        while (isPunct(peek(), ',')) {
          pos++
          args.push(expression())
        }
      }
      expect(')')
    } finally { depth-- }
    const [min, max] = FUNCTIONS[name]
    if (args.length < min || args.length > max) throw new StaError(400, `${name}() takes ${min === max ? min : `${min}–${max}`} argument(s), got ${args.length}`)
    return { type: 'call', name, args }
  }

  return {
    expression,
    expectEnd () {
      if (pos < tokens.length) fail('unexpected text')
    },
  }
}
