// The registry bucket's layout: one key per entry, `device.<id>`, `crew.<name>`, `operator.<name>`, `consumer.<name>`,
// the value the record's JSON (the record schemas of broker/registry/schema.ts).
// A KV key is a NATS subject: dots split it into tokens, and a token may not be empty. Ids may hold
// dots (`a..b`, `.x`, `x.`), so each dot of a name is written as `=`, a character ids never contain
// and KV keys allow: the key stays one token after the kind and readable (`device.lp=1` for `lp.1`).
import type { KvEntry } from '@nats-io/kv'
import { GatewayError } from '../errors.ts'
import { ENTRY_KINDS, RECORD_SCHEMA_OF, type EntryKind, type EntryRecord } from '../registry/entries.ts'
import { idSchema } from '../registry/schema.ts'

/** The characters of ids and names (schema.ts idSchema); `=` is not among them. */
const NAME_CHARS = /^[A-Za-z0-9._-]+$/

export function registryKey (kind: EntryKind, name: string): string {
  if (!NAME_CHARS.test(name)) throw new GatewayError('CSG_REGISTRY_INVALID', `${kind} name ${JSON.stringify(name)} cannot be a registry key`)
  return `${kind}.${name.replaceAll('.', '=')}`
}

/** The entry a key names, or undefined for a key outside the layout (or a name the schema refuses). */
export function parseRegistryKey (key: string): { kind: EntryKind; name: string } | undefined {
  const dot = key.indexOf('.')
  const kind = ENTRY_KINDS.find(function isKind (k) { return k === key.slice(0, dot) })
  const token = key.slice(dot + 1)
  if (kind === undefined || token.includes('.')) return undefined
  const name = token.replaceAll('=', '.')
  return idSchema.safeParse(name).success ? { kind, name } : undefined
}

/** The stored form of a record, checked against its kind's schema so that no node would skip it. */
export function encodeRecord (kind: EntryKind, name: string, record: EntryRecord): string {
  const parsed = RECORD_SCHEMA_OF[kind].safeParse(record)
  if (!parsed.success) {
    throw new GatewayError('CSG_REGISTRY_INVALID', `${kind} ${name}: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  }
  return JSON.stringify(parsed.data)
}

export interface DecodedEntry {
  kind: EntryKind
  name: string
  /** The record; undefined when the key was deleted or its value is unusable (then `problem` says why). */
  record: EntryRecord | undefined
  problem?: string
}

/** A KV entry as a registry change, or undefined for a key outside the layout. */
export function decodeRegistryEntry (entry: Pick<KvEntry, 'key' | 'operation' | 'string'>): DecodedEntry | undefined {
  const parsedKey = parseRegistryKey(entry.key)
  if (parsedKey === undefined || entry.operation !== 'PUT') return parsedKey === undefined ? undefined : { ...parsedKey, record: undefined }
  let value: unknown
  try {
    value = JSON.parse(entry.string())
  } catch {
    return { ...parsedKey, record: undefined, problem: 'value is not JSON' }
  }
  const parsed = RECORD_SCHEMA_OF[parsedKey.kind].safeParse(value)
  if (parsed.success) return { ...parsedKey, record: parsed.data }
  const issue = parsed.error.issues[0]
  return { ...parsedKey, record: undefined, problem: `${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}` }
}
