// Moving a whole registry between stores (`citygw registry export|import`): from registry.json to the
// cluster's bucket and back. Entries move with their hashes and creation times; no secret exists in
// plain text anywhere on the way.
import { GatewayError } from '../errors.ts'
import { ENTRY_KINDS, getEntry, kindOfName, registryEntries, setEntry, type RegistryEntry, type EntryKind } from './entries.ts'
import { registryStoreOf, type RegistryTarget } from './registry-store.ts'
import type { RegistryData } from './schema.ts'

export interface TransferCounts {
  /** Not registered before. */
  added: number
  /** Registered with another secret, replaced (only with `replace`). */
  replaced: number
  /** Same secret, other details (district, position, …) taken from the file. */
  updated: number
  /** Identical. */
  unchanged: number
}

export type ImportCounts = Record<EntryKind, TransferCounts>

/** Conflicts named in the error message at most; the count says how many there were. */
const NAMED_CONFLICTS = 10

function zeroCounts (): ImportCounts {
  const counts = {} as ImportCounts
  for (const kind of ENTRY_KINDS) counts[kind] = { added: 0, replaced: 0, updated: 0, unchanged: 0 }
  return counts
}

/**
 * Merges `incoming` into `data`. All or nothing: refuses (before changing anything) a name
 * registered as another kind, and one registered with another secret hash unless `replace`.
 * Entries of `data` the import does not mention are kept.
 */
export function mergeRegistry (data: RegistryData, incoming: RegistryData, options: { replace: boolean }): ImportCounts {
  const counts = zeroCounts()
  const conflicts: string[] = []
  const changes: RegistryEntry[] = []
  for (const { kind, name, record } of registryEntries(incoming)) {
    const presentKind = kindOfName(data, name)
    if (presentKind === undefined) {
      counts[kind].added++
      changes.push({ kind, name, record })
      continue
    }
    if (presentKind !== kind) {
      conflicts.push(`${name} (a ${presentKind} here, a ${kind} in the file)`)
      continue
    }
    const present = getEntry(data, kind, name)
    if (present?.secretHash !== record.secretHash) {
      if (!options.replace) {
        conflicts.push(`${name} (another secret)`)
        continue
      }
      counts[kind].replaced++
    } else if (JSON.stringify(present) === JSON.stringify(record)) {
      counts[kind].unchanged++
      continue
    } else {
      counts[kind].updated++
    }
    changes.push({ kind, name, record })
  }
  if (conflicts.length > 0) {
    const more = conflicts.length > NAMED_CONFLICTS ? ` and ${conflicts.length - NAMED_CONFLICTS} more` : ''
    throw new GatewayError('CSG_REGISTRY_CONFLICT',
      `${conflicts.length} entries of the file are registered differently: ${conflicts.slice(0, NAMED_CONFLICTS).join(', ')}${more}; nothing was imported (--replace takes the file's secrets)`)
  }
  for (const { kind, name, record } of changes) setEntry(data, kind, name, record)
  return counts
}

export async function importRegistry (target: RegistryTarget, incoming: RegistryData, options: { replace: boolean }): Promise<ImportCounts> {
  return registryStoreOf(target).update(function mergeIncoming (data) { return mergeRegistry(data, incoming, options) })
}

export async function exportRegistry (target: RegistryTarget): Promise<RegistryData> {
  return registryStoreOf(target).read()
}
