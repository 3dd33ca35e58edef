// The catalogue of device kinds: kind name in, DeviceKind out.
// Adding a kind = one new file in devices/ + its entry in ALL_KINDS (and the import).
import { lampPost } from './lamp-post.ts'
import { manhole } from './manhole.ts'
import { waterPipe } from './water-pipe.ts'
import type { DeviceKind } from './define-kind.ts'

export type { DeviceKind, FieldType, ReadingOf } from './define-kind.ts'
export type { LampPostReading } from './lamp-post.ts'
export type { WaterPipeReading } from './water-pipe.ts'
export type { ManholeReading } from './manhole.ts'

const ALL_KINDS = [lampPost, waterPipe, manhole] as const

/** Any of the known kinds, with its precise field types. */
export type AnyKind = (typeof ALL_KINDS)[number]
export type KindName = AnyKind['name']

/** Kind names in catalogue order; a non-empty tuple, so `z.enum(kindNames)` works. */
export const kindNames = Object.freeze(ALL_KINDS.map((kind) => kind.name)) as readonly [KindName, ...KindName[]]

/** Kind name → kind. */
export const kinds: { readonly [N in KindName]: Extract<AnyKind, { name: N }> } =
  Object.freeze(Object.fromEntries(ALL_KINDS.map((kind) => [kind.name, kind]))) as { [N in KindName]: Extract<AnyKind, { name: N }> }

// A Map, not `kinds[name]`: a device-supplied name like "constructor" must not find Object.prototype.
const byName: ReadonlyMap<string, DeviceKind> = new Map(ALL_KINDS.map((kind) => [kind.name, kind]))
if (byName.size !== ALL_KINDS.length) throw new TypeError('devices/index.ts: two kinds share a name')

/** The kind of that name, or undefined for a name no kind has. */
export function getKind (name: string): DeviceKind | undefined {
  return byName.get(name)
}

/** Type guard for names read from the registry or the command line. */
export function isKindName (name: string): name is KindName {
  return byName.has(name)
}
