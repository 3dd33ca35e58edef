// An OData $filter / $orderby text in; tokens out (names, numbers, strings, date-times, dates,
// geography literals, punctuation). Anything else is a StaError 400 naming the position, so no
// expression is ever half read.
import { notImplemented, StaError } from './sta-error.ts'

export type Token =
  | { kind: 'name'; text: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'datetime'; ms: number; at: number }
  | { kind: 'date'; text: string; at: number }
  | { kind: 'geography'; wkt: string; at: number }
  | { kind: 'punct'; text: '(' | ')' | ',' | '/'; at: number }

// Date-times as OData writes them: always with seconds optional fraction and a zone (Z or ±hh:mm).
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})/
const DATE = /^\d{4}-\d{2}-\d{2}(?![\dT:])/
const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/
const NAME = /^[A-Za-z_@$][A-Za-z0-9_.@$]*/
const GEOGRAPHY = /^(?:geography|geometry)'/i

/** Longest filter text read at all: a URL is bounded anyway, this bounds the parser's work. */
export const MAX_EXPRESSION_CHARS = 8192

export function tokenize (text: string): Token[] {
  if (text.length > MAX_EXPRESSION_CHARS) throw new StaError(400, `expression longer than ${MAX_EXPRESSION_CHARS} characters`)
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const ch = text[i] as string
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++
      continue
    }
    if (ch === '(' || ch === ')' || ch === ',' || ch === '/') {
      tokens.push({ kind: 'punct', text: ch, at: i })
      i++
      continue
    }
    const rest = text.slice(i)
    if (ch === '\'') {
      const { value, end } = readQuoted(text, i)
      tokens.push({ kind: 'string', value, at: i })
      i = end
      continue
    }
    const geography = GEOGRAPHY.exec(rest)
    if (geography !== null) {
      const { value, end } = readQuoted(text, i + geography[0].length - 1)
      tokens.push({ kind: 'geography', wkt: value, at: i })
      i = end
      continue
    }
    const datetime = DATETIME.exec(rest)
    if (datetime !== null) {
      const ms = Date.parse(datetime[0])
      if (Number.isNaN(ms)) throw new StaError(400, `invalid date-time ${datetime[0]} at ${i}`)
      // Times are kept to the millisecond; a finer literal could not be compared exactly.
      if (/\.\d{3}\d*[1-9]/.test(datetime[0])) throw notImplemented(`date-time finer than a millisecond (${datetime[0]})`)
      tokens.push({ kind: 'datetime', ms, at: i })
      i += datetime[0].length
      continue
    }
    const date = DATE.exec(rest)
    if (date !== null) {
      if (Number.isNaN(Date.parse(`${date[0]}T00:00:00Z`))) throw new StaError(400, `invalid date ${date[0]} at ${i}`)
      tokens.push({ kind: 'date', text: date[0], at: i })
      i += date[0].length
      continue
    }
    // A minus directly before a digit is a negative literal (OData has no binary minus sign).
    const number = NUMBER.exec(rest)
    if (number !== null && (ch !== '-' || /\d|\./.test(rest[1] ?? ''))) {
      tokens.push({ kind: 'number', value: Number(number[0]), at: i })
      i += number[0].length
      continue
    }
    const name = NAME.exec(rest)
    if (name !== null) {
      tokens.push({ kind: 'name', text: name[0], at: i })
      i += name[0].length
      continue
    }
    throw new StaError(400, `unexpected character '${ch}' at ${i}`)
  }
  return tokens
}

/** A single-quoted OData string starting at `start` ('' is an escaped quote). */
function readQuoted (text: string, start: number): { value: string; end: number } {
  let value = ''
  let i = start + 1
  while (i < text.length) {
    const ch = text[i] as string
    if (ch === '\'') {
      if (text[i + 1] === '\'') {
        value += '\''
        i += 2
        continue
      }
      return { value, end: i + 1 }
    }
    value += ch
    i++
  }
  throw new StaError(400, `unterminated string starting at ${start}`)
}
