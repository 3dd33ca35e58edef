// A property path of $filter / $orderby (`name`, `properties/district`, `Datastream/Thing/name`,
// `id`) and an entity in; its value out, through to-one navigation only. Unknown properties are a
// 400 and paths through collections a 501, so a typo never filters silently to nothing.
import { NAVIGATION, PROPERTIES } from './ids.ts'
import type { Entity, RegistryModel } from './registry-model.ts'
import { notImplemented, StaError } from './sta-error.ts'

export function resolvePath (entity: Entity, segments: readonly string[], model: RegistryModel): unknown {
  let current: Entity | undefined = entity
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string
    if (current === undefined) return null
    if (segment === 'id' || segment === '@iot.id') {
      if (i !== segments.length - 1) throw new StaError(400, `${segment} has no properties`)
      return current.id
    }
    const nav = NAVIGATION[current.set][segment]
    if (nav !== undefined) {
      if (nav.many) throw notImplemented(`$filter or $orderby through the collection ${segment}`)
      if (i === segments.length - 1) throw new StaError(400, `${segment} is an entity, not a value`)
      current = model.related(current, segment)[0]
      continue
    }
    if (!PROPERTIES[current.set].includes(segment)) throw new StaError(400, `${current.set} have no property ${segment.slice(0, 40)}`)
    let value: unknown = current.properties[segment]
    for (const key of segments.slice(i + 1)) {
      if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return null
      value = (value as Record<string, unknown>)[key]
    }
    return value ?? null
  }
  return null
}
