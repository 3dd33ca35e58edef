// A request's query string (or the options inside an $expand item's parentheses) in; validated
// query options out: $top $skip $count $orderby $select $expand $filter and the $skiptoken of our
// own next links. An unknown system option or a malformed value is a 400, $resultFormat a 501.
import { parseFilter, parseOrderKey, type Expr } from './odata-filter.ts'
import { notImplemented, StaError } from './sta-error.ts'

export interface OrderKey { expr: Expr; descending: boolean; text: string }
export interface ExpandItem { nav: string; options: QueryOptions }

export interface QueryOptions {
  top?: number
  skip?: number
  count?: boolean
  orderby: OrderKey[]
  select?: string[]
  expand: ExpandItem[]
  filter?: Expr
  /** Where a page of Observations continues (opaque to clients; from our own @iot.nextLink). */
  skiptoken?: string
  /** The options as given, to carry into next links. */
  raw: ReadonlyMap<string, string>
}

/** Deepest $expand nesting: each level multiplies the work of one request. */
const MAX_EXPAND_DEPTH = 4
const MAX_ORDER_KEYS = 8
const KNOWN = new Set(['$top', '$skip', '$count', '$orderby', '$select', '$expand', '$filter', '$skiptoken'])

export function emptyOptions (): QueryOptions {
  return { orderby: [], expand: [], raw: new Map() }
}

/** Options of the URL's query string (`search` without its leading `?`). */
export function parseQueryString (search: string): QueryOptions {
  const raw = new Map<string, string>()
  for (const [key, value] of new URLSearchParams(search)) {
    if (!key.startsWith('$')) continue // custom query options are allowed and ignored
    if (raw.has(key)) throw new StaError(400, `${key} given twice`)
    raw.set(key, value)
  }
  return optionsOf(raw, 0)
}

function optionsOf (raw: Map<string, string>, depth: number): QueryOptions {
  const options: QueryOptions = { orderby: [], expand: [], raw }
  for (const [key, value] of raw) {
    switch (key) {
      case '$top': options.top = nonNegativeInteger(key, value); break
      case '$skip': options.skip = nonNegativeInteger(key, value); break
      case '$count':
        if (value !== 'true' && value !== 'false') throw new StaError(400, '$count must be true or false')
        options.count = value === 'true'
        break
      case '$orderby':
        options.orderby = splitTopLevel(value, ',').map(function orderKey (text) { return { ...parseOrderKey(text), text: text.trim() } })
        if (options.orderby.length > MAX_ORDER_KEYS) throw new StaError(400, `more than ${MAX_ORDER_KEYS} $orderby keys`)
        break
      case '$select':
        options.select = splitTopLevel(value, ',').map(function selected (name) { return name.trim() })
        if (options.select.some(function isPath (name) { return name.includes('/') })) throw notImplemented('$select of a property path')
        break
      case '$expand': options.expand = parseExpand(value, depth); break
      case '$filter': options.filter = parseFilter(value); break
      case '$skiptoken': options.skiptoken = value; break
      case '$resultFormat': throw notImplemented(`$resultFormat=${value.slice(0, 40)}`)
      default:
        if (!KNOWN.has(key)) throw new StaError(400, `unknown query option ${key.slice(0, 40)}`)
    }
  }
  return options
}

function nonNegativeInteger (key: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new StaError(400, `${key} must be a non-negative integer`)
  return Number(value)
}

/** `Datastreams($select=name;$expand=Observations($top=3)),Locations` → items. */
function parseExpand (text: string, depth: number): ExpandItem[] {
  if (depth >= MAX_EXPAND_DEPTH) throw new StaError(400, `$expand nested deeper than ${MAX_EXPAND_DEPTH}`)
  const items: ExpandItem[] = []
  for (const part of splitTopLevel(text, ',')) {
    const trimmed = part.trim()
    const open = trimmed.indexOf('(')
    const path = (open === -1 ? trimmed : trimmed.slice(0, open)).trim()
    let inner = ''
    if (open !== -1) {
      if (!trimmed.endsWith(')')) throw new StaError(400, `unbalanced parentheses in $expand item ${trimmed.slice(0, 60)}`)
      inner = trimmed.slice(open + 1, -1)
    }
    const segments = path.split('/')
    if (segments.some(function isBad (s) { return !/^[A-Za-z]+$/.test(s) })) throw new StaError(400, `invalid $expand path '${path.slice(0, 60)}'`)
    const raw = new Map<string, string>()
    for (const option of inner === '' ? [] : splitTopLevel(inner, ';')) {
      const eq = option.indexOf('=')
      if (eq <= 0) throw new StaError(400, `invalid option '${option.slice(0, 60)}' in $expand`)
      const key = option.slice(0, eq).trim()
      if (raw.has(key)) throw new StaError(400, `${key} given twice in $expand`)
      raw.set(key, option.slice(eq + 1))
    }
    // Datastreams/Observations($top=3) = Datastreams expanded with Observations($top=3) inside.
    let item: ExpandItem = { nav: segments.at(-1) as string, options: optionsOf(raw, depth + segments.length) }
    for (const segment of segments.slice(0, -1).reverse()) item = { nav: segment, options: { orderby: [], expand: [item], raw: new Map() } }
    items.push(mergeInto(items, item))
  }
  return items.filter(function isFirst (item, index) { return items.findIndex(function same (i) { return i === item }) === index })
}

/** Two items for one navigation property (`Datastreams/Thing,Datastreams/Sensor`) become one. */
function mergeInto (items: ExpandItem[], item: ExpandItem): ExpandItem {
  const existing = items.find(function sameNav (i) { return i.nav === item.nav })
  if (existing === undefined) return item
  existing.options.expand.push(...item.options.expand)
  return existing
}

/** Splits at `separator` outside parentheses and quotes. */
function splitTopLevel (text: string, separator: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch === '\'') quoted = !quoted
    else if (quoted) continue
    else if (ch === '(') depth++
    else if (ch === ')') depth--
    else if (ch === separator && depth === 0) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
    if (depth < 0) throw new StaError(400, 'unbalanced parentheses')
  }
  if (depth !== 0 || quoted) throw new StaError(400, 'unbalanced parentheses or quotes')
  parts.push(text.slice(start))
  return parts.filter(function nonEmpty (p) { return p.trim() !== '' })
}
