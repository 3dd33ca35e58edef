// Entities in; SensorThings JSON out: @iot.id, @iot.selfLink, properties, navigation links, and
// $select / $expand applied (nested, each level with its own options). Registry collections are
// filtered, counted, ordered and paged here in memory; Observations come through observation-query.
import { matches, evaluate, orderValues } from './filter-eval.ts'
import { keyLiteral, NAVIGATION, PROPERTIES } from './ids.ts'
import type { ObservationReader } from './observation-reader.ts'
import { DEFAULT_TOP, MAX_TOP, queryObservations, type ObservationSource } from './observation-query.ts'
import { resolvePath } from './property-path.ts'
import type { ExpandItem, QueryOptions } from './query-options.ts'
import type { Entity, RegistryModel } from './registry-model.ts'
import { parseDatastreamId } from './ids.ts'
import { StaError } from './sta-error.ts'

export interface StaContext {
  model: RegistryModel
  reader: ObservationReader | undefined
  /** Absolute URL of the service root, without a trailing slash. */
  base: string
  nowMs: number
  /** Observation reads this request may still make (each expanded Observations list is one). */
  observationReads: { left: number }
  /** Readings this request may still read from InfluxDB, across all its reads. */
  readingBudget: { left: number }
}

/** Observation lists one request may read, directly or in expands. */
export const MAX_OBSERVATION_READS = 500
/** Readings one request reads from InfluxDB at most (pages end short, with a next link, beyond it). */
export const MAX_READINGS_PER_REQUEST = 50_000

export function selfLink (ctx: StaContext, entity: Entity): string {
  return `${ctx.base}/${entity.set}(${keyLiteral(entity.id)})`
}

/** Where a collection's Observations come from, for an entity that has some. */
export function observationSourceOf (ctx: StaContext, entity: Entity): ObservationSource | undefined {
  if (entity.set === 'Datastreams') {
    const parsed = parseDatastreamId(entity.id)
    const device = parsed === undefined ? undefined : ctx.model.device(parsed.deviceId)
    return device === undefined || parsed === undefined ? undefined : { kind: 'datastream', device, field: parsed.field }
  }
  if (entity.set === 'FeaturesOfInterest') {
    const device = ctx.model.device(entity.id)
    return device === undefined ? undefined : { kind: 'feature', device }
  }
  return undefined
}

export async function readObservations (ctx: StaContext, source: ObservationSource, options: QueryOptions) {
  if (--ctx.observationReads.left < 0) throw new StaError(400, `a request may read the Observations of at most ${MAX_OBSERVATION_READS} entities: lower $top of the expanded collection`)
  return queryObservations(ctx.reader, ctx.model, source, options, ctx.nowMs, ctx.readingBudget)
}

/** Filtered, counted, ordered and paged entities of a registry collection. */
export function pageOf (ctx: StaContext, entities: Entity[], options: QueryOptions): { page: Entity[]; count: number; more: boolean; top: number; skip: number } {
  const filter = options.filter
  let selected = entities
  if (filter !== undefined) {
    selected = entities.filter(function passes (entity) {
      return matches(filter, { nowMs: ctx.nowMs, resolve (segments) { return resolvePath(entity, segments, ctx.model) } })
    })
  }
  if (options.orderby.length > 0) {
    const keyed = selected.map(function keysOf (entity) {
      return { entity, keys: options.orderby.map(function valueOf (key) { return evaluate(key.expr, { nowMs: ctx.nowMs, resolve (segments) { return resolvePath(entity, segments, ctx.model) } }) }) }
    })
    keyed.sort(function byKeys (a, b) {
      for (let i = 0; i < options.orderby.length; i++) {
        const order = orderValues(a.keys[i] ?? null, b.keys[i] ?? null)
        if (order !== 0) return options.orderby[i]?.descending === true ? -order : order
      }
      return a.entity.id < b.entity.id ? -1 : a.entity.id > b.entity.id ? 1 : 0
    })
    selected = keyed.map(function entityOf (k) { return k.entity })
  }
  const top = Math.min(options.top ?? DEFAULT_TOP, MAX_TOP)
  const skip = options.skip ?? 0
  // $top=0 asks for the count alone: no next link that would never advance.
  return { page: selected.slice(skip, skip + top), count: selected.length, more: top > 0 && skip + top < selected.length, top, skip }
}

/** The query string of a next link: the given options, with $skip / $skiptoken replaced. */
export function nextQuery (options: QueryOptions, replace: Record<string, string>): string {
  const params = new Map<string, string>()
  for (const [key, value] of options.raw) if (key !== '$skip' && key !== '$skiptoken') params.set(key, value)
  for (const [key, value] of Object.entries(replace)) params.set(key, value)
  // Option names are `$` and letters only: left readable, as in the spec's examples.
  return [...params].map(function pair ([key, value]) { return `${key}=${encodeURIComponent(value)}` }).join('&')
}

export async function renderEntity (ctx: StaContext, entity: Entity, options: QueryOptions): Promise<Record<string, unknown>> {
  const link = selfLink(ctx, entity)
  const navigation = NAVIGATION[entity.set]
  const select = options.select === undefined ? undefined : new Set(options.select)
  for (const name of select ?? []) {
    if (name !== 'id' && name !== '@iot.id' && name !== '@iot.selfLink' && !PROPERTIES[entity.set].includes(name) && navigation[name] === undefined) {
      throw new StaError(400, `$select: ${entity.set} have no property ${name.slice(0, 40)}`)
    }
  }
  const wants = function wants (name: string): boolean { return select === undefined || select.has(name) }
  const json: Record<string, unknown> = {}
  if (wants('id') || select?.has('@iot.id') === true) json['@iot.id'] = entity.id
  if (select === undefined || select.has('@iot.selfLink')) json['@iot.selfLink'] = link
  for (const [name, value] of Object.entries(entity.properties)) if (wants(name)) json[name] = value
  for (const nav of Object.keys(navigation)) if (wants(nav)) json[`${nav}@iot.navigationLink`] = `${link}/${nav}`
  for (const item of options.expand) await expandInto(ctx, entity, item, json)
  return json
}

async function expandInto (ctx: StaContext, entity: Entity, item: ExpandItem, json: Record<string, unknown>): Promise<void> {
  const nav = NAVIGATION[entity.set][item.nav]
  if (nav === undefined) throw new StaError(400, `$expand: ${entity.set} have no navigation property ${item.nav.slice(0, 40)}`)
  const link = `${selfLink(ctx, entity)}/${item.nav}`
  if (nav.target === 'Observations') {
    const source = observationSourceOf(ctx, entity)
    if (source === undefined) {
      json[item.nav] = []
      return
    }
    const page = await readObservations(ctx, source, item.options)
    json[item.nav] = await Promise.all(page.entities.map(function render (e) { return renderEntity(ctx, e, item.options) }))
    if (page.count !== undefined) json[`${item.nav}@iot.count`] = page.count
    if (page.nextToken !== undefined) json[`${item.nav}@iot.nextLink`] = `${link}?${nextQuery(item.options, { $skiptoken: page.nextToken })}`
    return
  }
  const related = ctx.model.related(entity, item.nav)
  if (!nav.many) {
    const target = related[0]
    json[item.nav] = target === undefined ? null : await renderEntity(ctx, target, item.options)
    return
  }
  const { page, count, more, top, skip } = pageOf(ctx, related, item.options)
  const rendered: Record<string, unknown>[] = []
  for (const e of page) rendered.push(await renderEntity(ctx, e, item.options))
  json[item.nav] = rendered
  if (item.options.count === true) json[`${item.nav}@iot.count`] = count
  if (more) json[`${item.nav}@iot.nextLink`] = `${link}?${nextQuery(item.options, { $top: String(top), $skip: String(skip + top) })}`
}
