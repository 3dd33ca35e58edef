// The registry's data: devices, crews, operators and outside consumers with hashed secrets, as kept
// in DATA_DIR/registry.json.
// The same zod schemas validate CLI input, import lines and the file when it is read back.
import { z } from 'zod'
import { kindNames } from '../../devices/index.ts'
import { consumerScopeSchema } from '../consumers/scope.ts'

/** Device ids, crew names and districts: 1–64 of `A-Z a-z 0-9 - _ .` (README "Provisioning"). */
// Names that are properties of every JS object are refused, so no lookup can reach a prototype.
const RESERVED_IDS = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf'])
export const idSchema = z.string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 - _ .')
  .refine(function isNotReserved (id) { return !RESERVED_IDS.has(id) }, 'is a reserved name')

export const latitudeSchema = z.coerce.number().min(-90).max(90)
export const longitudeSchema = z.coerce.number().min(-180).max(180)

/** What an operator provides for one device (CLI flags or one import line). */
export const deviceInputSchema = z.object({
  id: idSchema,
  kind: z.enum(kindNames),
  district: idSchema,
  lat: latitudeSchema.optional(),
  lon: longitudeSchema.optional(),
  /** What the device hangs on with others: a lighting feeder or cabinet, a pressure zone, a sewer section. */
  group: idSchema.optional(),
}).refine(function latLonTogether (d) {
  return (d.lat === undefined) === (d.lon === undefined)
}, { message: 'lat and lon go together', path: ['lat'] })

export type DeviceInput = z.infer<typeof deviceInputSchema>

const storedHash = z.string().startsWith('s256$')

export const deviceRecordSchema = z.object({
  kind: z.enum(kindNames),
  district: idSchema,
  lat: z.number().optional(),
  lon: z.number().optional(),
  group: idSchema.optional(),
  secretHash: storedHash,
  createdAt: z.string(),
})
export type DeviceRecord = z.infer<typeof deviceRecordSchema>

export const crewRecordSchema = z.object({
  /** Districts whose alarms the crew sees; absent = all districts. */
  districts: z.array(idSchema).optional(),
  secretHash: storedHash,
  createdAt: z.string(),
})
export type CrewRecord = z.infer<typeof crewRecordSchema>

/** An operator account (HTTP API and console): sees every district and every device. */
export const operatorRecordSchema = z.object({
  secretHash: storedHash,
  createdAt: z.string(),
})
export type OperatorRecord = z.infer<typeof operatorRecordSchema>

/** An outside consumer (another department, an open-data portal): read-only data within its scope, by token. */
export const consumerRecordSchema = z.object({
  scope: consumerScopeSchema,
  secretHash: storedHash,
  createdAt: z.string(),
})
export type ConsumerRecord = z.infer<typeof consumerRecordSchema>

export const registryFileSchema = z.object({
  version: z.literal(1),
  devices: z.record(idSchema, deviceRecordSchema),
  crews: z.record(idSchema, crewRecordSchema),
  // Optional so registry files written before operators existed stay valid.
  operators: z.record(idSchema, operatorRecordSchema).default({}),
  consumers: z.record(idSchema, consumerRecordSchema).default({}),
})
export type RegistryData = z.infer<typeof registryFileSchema>

export function emptyRegistry (): RegistryData {
  return { version: 1, devices: {}, crews: {}, operators: {}, consumers: {} }
}
