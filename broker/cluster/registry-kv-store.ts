// The registry in the cluster's NATS KV bucket as a RegistryStore, for provisioning (the CLI).
// `update` reads the whole bucket, runs `mutate` on it and writes only the keys it changed, each by
// compare-and-set (registry-kv-writes.ts, with its limit): two `device add` of one id cannot both
// succeed, and a change someone else made since the read is not overwritten. The shared namespace
// of devices, crews and operators is checked on the read, not by the server: two writers adding the
// same name as different kinds at the same moment can both succeed (MQTT logins then find the
// device first, API sign-ins the crew).
import type { Logger } from '../log.ts'
import { registryEntries, setEntry } from '../registry/entries.ts'
import type { RegistryStore } from '../registry/registry-store.ts'
import { emptyRegistry, type RegistryData } from '../registry/schema.ts'
import { readBucketOnce } from './bucket-follower.ts'
import type { RegistryBucket } from './registry-bucket.ts'
import { decodeRegistryEntry, encodeRecord, registryKey } from './registry-kv-entries.ts'
import { applyWrites, planWrites, type StoredEntries } from './registry-kv-writes.ts'


interface RegistrySnapshot {
  data: RegistryData
  /** Revision of every key holding a value, usable or not. */
  revisions: Map<string, number>
}

/** Every entry of the bucket now. Unusable entries are logged and left out (their revisions kept). */
async function readRegistryBucket (bucket: RegistryBucket, log: Logger): Promise<RegistrySnapshot> {
  const data = emptyRegistry()
  const revisions = new Map<string, number>()
  await readBucketOnce(bucket, function collect (entry) {
    const decoded = decodeRegistryEntry(entry)
    if (decoded === undefined) {
      log.warn({ key: entry.key }, 'registry bucket: key outside the layout ignored')
      return
    }
    if (entry.operation === 'PUT') revisions.set(entry.key, entry.revision)
    else revisions.delete(entry.key)
    if (decoded.problem !== undefined) log.warn({ key: entry.key, problem: decoded.problem }, 'registry bucket: invalid entry skipped')
    setEntry(data, decoded.kind, decoded.name, decoded.record)
  }, 'registry', log)
  return { data, revisions }
}

/** The registry as stored: key → its value, each checked against its schema. */
function storedEntries (data: RegistryData): StoredEntries {
  const stored = new Map<string, { what: string; value: string }>()
  for (const { kind, name, record } of registryEntries(data)) {
    stored.set(registryKey(kind, name), { what: `${kind} ${name}`, value: encodeRecord(kind, name, record) })
  }
  return stored
}

export function kvRegistryStore (bucket: RegistryBucket, log: Logger): RegistryStore {
  return {
    describe: `NATS KV bucket ${bucket.name}`,
    async read () { return (await readRegistryBucket(bucket, log)).data },
    async update (mutate) {
      const { data, revisions } = await readRegistryBucket(bucket, log)
      const before = storedEntries(data)
      const result = mutate(data)
      await applyWrites(bucket.kv, planWrites(before, storedEntries(data), revisions), log)
      return result
    },
  }
}
