// One SensorThings GET in (resource path, query string, the caller's model); its answer out: the
// service root, an entity, a collection (with @iot.count / @iot.nextLink), a property, its $value
// or $ref links. Everything the caller's scope hides is a 404, as if it did not exist.
import { NAVIGATION, ENTITY_SETS, PROPERTIES, parseObservationId, type EntitySetName } from './ids.ts'
import type { ObservationSource } from './observation-query.ts'
import { parseQueryString, type QueryOptions } from './query-options.ts'
import type { Entity, RegistrySet } from './registry-model.ts'
import { nextQuery, observationSourceOf, pageOf, readObservations, renderEntity, selfLink, type StaContext } from './render.ts'
import { parseResourcePath } from './resource-path.ts'
import { notImplemented, StaError } from './sta-error.ts'

export type StaAnswer = { json: unknown } | { text: string }

export const CONFORMANCE = [
  'http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/request-data',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates',
] as const

type Collection =
  | { kind: 'registry'; set: RegistrySet; entities: Entity[]; link: string }
  | { kind: 'observations'; source: ObservationSource | { kind: 'all' }; link: string }

type State = { kind: 'entity'; entity: Entity } | Collection

export async function serveSta (ctx: StaContext, rawPath: string, search: string, mqttEndpoints: readonly string[]): Promise<StaAnswer> {
  const path = parseResourcePath(rawPath)
  const options = parseQueryString(search)
  if (path.set === undefined) return { json: serviceRoot(ctx, mqttEndpoints) }

  let state: State = path.id === undefined ? rootCollection(ctx, path.set) : { kind: 'entity', entity: await entityById(ctx, path.set, path.id) }
  for (const [index, step] of path.steps.entries()) {
    if (state.kind !== 'entity') throw new StaError(400, `${step.name} follows a collection: address one entity by its key first`)
    const entity: Entity = state.entity
    const nav = NAVIGATION[entity.set][step.name]
    if (nav === undefined) {
      if (!PROPERTIES[entity.set].includes(step.name)) throw new StaError(404, `${entity.set} have no property ${step.name.slice(0, 40)}`)
      if (index !== path.steps.length - 1) throw notImplemented('paths into a property')
      if (step.id !== undefined) throw new StaError(400, `${step.name} is a property and takes no key`)
      return propertyAnswer(entity, step.name, path.value)
    }
    const link = `${selfLink(ctx, entity)}/${step.name}`
    let next: State
    if (nav.target === 'Observations') {
      const source = observationSourceOf(ctx, entity)
      next = source === undefined ? { kind: 'registry', set: 'FeaturesOfInterest', entities: [], link } : { kind: 'observations', source, link }
    } else if (nav.many) {
      next = { kind: 'registry', set: nav.target, entities: ctx.model.related(entity, step.name), link }
    } else {
      const target = ctx.model.related(entity, step.name)[0]
      if (target === undefined) throw new StaError(404, `${entity.set}(${entity.id}) has no ${step.name}`)
      next = { kind: 'entity', entity: target }
    }
    if (step.id !== undefined) {
      if (next.kind === 'entity') throw new StaError(400, `${step.name} is a single entity and takes no key`)
      next = { kind: 'entity', entity: await memberById(ctx, next, nav.target, step.id) }
    }
    state = next
  }
  if (path.value) throw new StaError(400, '$value follows a property')

  if (state.kind === 'entity') {
    if (path.ref) return { json: { '@iot.selfLink': selfLink(ctx, state.entity) } }
    return { json: await renderEntity(ctx, state.entity, options) }
  }
  // A next link of $ref links continues with $ref links.
  return { json: await collectionAnswer(ctx, path.ref ? { ...state, link: `${state.link}/$ref` } : state, options, path.ref) }
}

function serviceRoot (ctx: StaContext, mqttEndpoints: readonly string[]): unknown {
  return {
    value: ENTITY_SETS.map(function entry (name) { return { name, url: `${ctx.base}/${name}` } }),
    serverSettings: {
      conformance: CONFORMANCE,
      'http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates': { endpoints: mqttEndpoints },
    },
  }
}

function rootCollection (ctx: StaContext, set: EntitySetName): Collection {
  const link = `${ctx.base}/${set}`
  if (set === 'Observations') return { kind: 'observations', source: { kind: 'all' }, link }
  return { kind: 'registry', set, entities: ctx.model.list(set), link }
}

async function entityById (ctx: StaContext, set: EntitySetName, id: string): Promise<Entity> {
  if (set !== 'Observations') {
    const entity = ctx.model.get(set, id)
    if (entity === undefined) throw new StaError(404, `no ${set}(${id.slice(0, 80)})`)
    return entity
  }
  const parsed = parseObservationId(id)
  const device = parsed === undefined ? undefined : ctx.model.device(parsed.deviceId)
  if (parsed === undefined || device === undefined || !device.fields.includes(parsed.field)) throw new StaError(404, `no Observations(${id.slice(0, 80)})`)
  const page = await readObservations(ctx, { kind: 'datastream', device, field: parsed.field }, {
    ...parseQueryString(''),
    filter: { type: 'compare', op: 'eq', left: { type: 'path', segments: ['phenomenonTime'] }, right: { type: 'datetime', ms: parsed.tsMs } },
    top: 1,
  })
  const found = page.entities[0]
  if (found === undefined) throw new StaError(404, `no Observations(${id.slice(0, 80)})`)
  return found
}

async function memberById (ctx: StaContext, collection: Collection, set: EntitySetName, id: string): Promise<Entity> {
  if (collection.kind === 'registry') {
    const found = collection.entities.find(function sameId (e) { return e.id === id })
    if (found === undefined) throw new StaError(404, `no ${set}(${id.slice(0, 80)}) here`)
    return found
  }
  const entity = await entityById(ctx, 'Observations', id)
  const belongs = ctx.model.related(entity, collection.source.kind === 'datastream' ? 'Datastream' : 'FeatureOfInterest')[0]
  const owner = collection.source.kind === 'datastream' ? `${collection.source.device.id}:${collection.source.field}` : collection.source.kind === 'feature' ? collection.source.device.id : undefined
  if (owner !== undefined && belongs?.id !== owner) throw new StaError(404, `no Observations(${id.slice(0, 80)}) here`)
  return entity
}

function propertyAnswer (entity: Entity, name: string, value: boolean): StaAnswer {
  const property = entity.properties[name]
  if (property === undefined || property === null) throw new StaError(404, `${entity.set}(${entity.id}) has no ${name}`)
  if (!value) return { json: { [name]: property } }
  // $value of a complex property (properties, location) is its JSON text.
  return { text: typeof property === 'string' ? property : JSON.stringify(property) }
}

async function collectionAnswer (ctx: StaContext, collection: Collection, options: QueryOptions, isRef: boolean): Promise<Record<string, unknown>> {
  const render = isRef
    ? function refOf (e: Entity) { return Promise.resolve({ '@iot.selfLink': selfLink(ctx, e) }) }
    : function full (e: Entity) { return renderEntity(ctx, e, options) }
  const answer: Record<string, unknown> = {}
  if (collection.kind === 'observations') {
    const page = await readObservations(ctx, collection.source, options)
    if (page.count !== undefined) answer['@iot.count'] = page.count
    if (page.nextToken !== undefined) answer['@iot.nextLink'] = `${collection.link}?${nextQuery(options, { $skiptoken: page.nextToken })}`
    const value: unknown[] = []
    for (const entity of page.entities) value.push(await render(entity))
    answer.value = value
    return answer
  }
  const { page, count, more, top, skip } = pageOf(ctx, collection.entities, options)
  if (options.count === true) answer['@iot.count'] = count
  if (more) answer['@iot.nextLink'] = `${collection.link}?${nextQuery(options, { $top: String(top), $skip: String(skip + top) })}`
  const value: unknown[] = []
  for (const entity of page) value.push(await render(entity))
  answer.value = value
  return answer
}
