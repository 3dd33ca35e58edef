// The NGSI-LD model of every kind: kind name in, its Smart Data Models mapping out.
// A new kind needs its `<kind>-ngsi.ts` and a line here (the type makes a missing one an error).
import type { KindName } from './index.ts'
import { lampPostNgsi } from './lamp-post-ngsi.ts'
import { manholeNgsi } from './manhole-ngsi.ts'
import type { NgsiModel } from './ngsi-model.ts'
import { waterPipeNgsi } from './water-pipe-ngsi.ts'

export type { NgsiAttribute, NgsiAttributes, NgsiModel, NgsiProperty } from './ngsi-model.ts'

export const ngsiModels: { readonly [N in KindName]: NgsiModel } = Object.freeze({
  'lamp-post': lampPostNgsi,
  'water-pipe': waterPipeNgsi,
  manhole: manholeNgsi,
})
