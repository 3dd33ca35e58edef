// The registry as a set of entries: one device, crew, operator or consumer under its name, with the record
// schema that validates it. The running view, the KV layout and registry import walk it this way.
import type { z } from 'zod'
import { consumerRecordSchema, crewRecordSchema, deviceRecordSchema, operatorRecordSchema, type ConsumerRecord, type CrewRecord, type DeviceRecord, type OperatorRecord, type RegistryData } from './schema.ts'

export type EntryKind = 'device' | 'crew' | 'operator' | 'consumer'
export type EntryRecord = DeviceRecord | CrewRecord | OperatorRecord | ConsumerRecord

export const ENTRY_KINDS: readonly EntryKind[] = ['device', 'crew', 'operator', 'consumer']

/** The RegistryData field that holds each kind. */
export const SECTION_OF = { device: 'devices', crew: 'crews', operator: 'operators', consumer: 'consumers' } as const satisfies Record<EntryKind, keyof RegistryData>

export const RECORD_SCHEMA_OF: { [K in EntryKind]: z.ZodType<EntryRecord> } = {
  device: deviceRecordSchema,
  crew: crewRecordSchema,
  operator: operatorRecordSchema,
  consumer: consumerRecordSchema,
}

export interface RegistryEntry { kind: EntryKind; name: string; record: EntryRecord }

export function * registryEntries (data: RegistryData): Generator<RegistryEntry> {
  for (const kind of ENTRY_KINDS) {
    for (const [name, record] of Object.entries(data[SECTION_OF[kind]])) yield { kind, name, record }
  }
}

export function getEntry (data: RegistryData, kind: EntryKind, name: string): EntryRecord | undefined {
  const section = data[SECTION_OF[kind]] as Record<string, EntryRecord>
  return Object.hasOwn(section, name) ? section[name] : undefined
}

/** Sets (or, with `undefined`, deletes) one entry of `data`. */
export function setEntry (data: RegistryData, kind: EntryKind, name: string, record: EntryRecord | undefined): void {
  const section = data[SECTION_OF[kind]] as Record<string, EntryRecord>
  if (record === undefined) delete section[name]
  else section[name] = record
}

/** The kind a name is registered as, if any (devices, crews, operators and consumers share one namespace). */
export function kindOfName (data: RegistryData, name: string): EntryKind | undefined {
  return ENTRY_KINDS.find(function holdsName (kind) { return Object.hasOwn(data[SECTION_OF[kind]], name) })
}
