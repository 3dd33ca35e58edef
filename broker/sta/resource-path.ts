// The resource path after /sta/v1.1 in (raw, percent-encoded); its parts out: an entity set with an
// optional key, navigation steps (each with an optional key), then a property, $value or $ref.
// `Things('lamp-001')/Datastreams`, `Datastreams('lamp-001:activePower')/Observations/$ref`.
import { isEntitySet, type EntitySetName } from './ids.ts'
import { StaError } from './sta-error.ts'

export interface PathStep { name: string; id?: string }

export interface ResourcePath {
  /** Undefined = the service root. */
  set?: EntitySetName
  id?: string
  /** Navigation or property segments after the set, in order. */
  steps: PathStep[]
  value: boolean
  ref: boolean
}

const SEGMENT = /^([A-Za-z]+)(?:\((.*)\))?$/s
const MAX_SEGMENTS = 12

export function parseResourcePath (raw: string): ResourcePath {
  const segments = raw.split('/').filter(function nonEmpty (s) { return s !== '' })
  if (segments.length > MAX_SEGMENTS) throw new StaError(400, `more than ${MAX_SEGMENTS} path segments`)
  const path: ResourcePath = { steps: [], value: false, ref: false }
  const first = segments.shift()
  if (first === undefined) return path
  const head = segmentOf(first)
  if (!isEntitySet(head.name)) throw new StaError(404, `no entity set ${head.name.slice(0, 40)}`)
  path.set = head.name
  if (head.id !== undefined) path.id = head.id
  for (const [index, segment] of segments.entries()) {
    const isLast = index === segments.length - 1
    if (segment === '$value' || segment === '$ref') {
      if (!isLast) throw new StaError(400, `${segment} must end the path`)
      if (segment === '$value') path.value = true
      else path.ref = true
      continue
    }
    path.steps.push(segmentOf(segment))
  }
  return path
}

function segmentOf (encoded: string): PathStep {
  let segment: string
  try {
    segment = decodeURIComponent(encoded)
  } catch {
    throw new StaError(400, 'malformed percent-encoding in the path')
  }
  const match = SEGMENT.exec(segment)
  if (match === null) throw new StaError(400, `invalid path segment ${segment.slice(0, 60)}`)
  const name = match[1] as string
  const key = match[2]
  if (key === undefined) return { name }
  return { name, id: keyOf(key) }
}

/** `'lamp-001'` → lamp-001 ('' inside is one quote). Unquoted keys are accepted as they are. */
function keyOf (key: string): string {
  const quoted = /^'((?:[^']|'')*)'$/.exec(key)
  if (quoted !== null) return (quoted[1] as string).replace(/''/g, '\'')
  if (/^[A-Za-z0-9._:-]{1,200}$/.test(key)) return key
  throw new StaError(400, `invalid key (${key.slice(0, 60)})`)
}
