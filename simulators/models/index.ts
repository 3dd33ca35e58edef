// Device models by kind: a kind name and a ModelContext in, the kind's DeviceModel out.
// Adding a kind to devices/ without a model here fails to compile (the record covers KindName).
import type { KindName } from '../../devices/index.ts'
import { createLampPostModel } from './lamp-post.ts'
import { createManholeModel } from './manhole.ts'
import type { DeviceModel, ModelContext } from './model.ts'
import { createWaterPipeModel } from './water-pipe.ts'

export type { DeviceModel, ModelContext, ReadingByKind } from './model.ts'

const FACTORIES: { readonly [K in KindName]: (ctx: ModelContext) => DeviceModel<K> } = {
  'lamp-post': createLampPostModel,
  'water-pipe': createWaterPipeModel,
  manhole: createManholeModel,
}

export function createModel<K extends KindName> (kind: K, ctx: ModelContext): DeviceModel<K> {
  return (FACTORIES[kind] as (ctx: ModelContext) => DeviceModel<K>)(ctx)
}
