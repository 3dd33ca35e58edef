// The cluster's maintenance bucket (csg-maintenance): one key per window, named by its id, holding
// the window as JSON (who added and ended it sealed with the data key). Created with the same
// settings by every node and by the CLI.
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from '../log.ts'
import { endedWindow, isKept, type MaintenanceAdmin } from '../maintenance/store.ts'
import { maintenanceIdSchema, type MaintenanceWindow } from '../maintenance/window.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openWindow, sealWindow, storedWindowSchema } from '../crypto/sealed-window.ts'
import { readBucketOnce, type BucketEntry, type FollowedBucket } from './bucket-follower.ts'
import { ensureBucket } from './jetstream-setup.ts'
import { MAINTENANCE_BUCKET } from './names.ts'


export type MaintenanceBucket = FollowedBucket

export async function openMaintenanceBucket (nc: NatsConnection, replicas: number, name: string = MAINTENANCE_BUCKET): Promise<MaintenanceBucket> {
  const jsm = await jetstreamManager(nc)
  const kv = await ensureBucket(nc, jsm, name, { replicas, history: 1, description: 'city-sensor-gateway maintenance windows' })
  return { kv, jsm, name }
}

export type DecodedWindow = { window: MaintenanceWindow } | { window: undefined; problem?: string }

/**
 * The window of a bucket entry; undefined for a delete, or a problem for a value that does not
 * validate. Throws CSG_DATA_KEY_MISSING for names sealed with a key `cipher` lacks.
 */
export function decodeMaintenanceEntry (entry: BucketEntry, cipher?: FieldCipher): DecodedWindow {
  if (entry.operation !== 'PUT') return { window: undefined }
  let data: unknown
  try {
    data = JSON.parse(entry.string())
  } catch {
    return { window: undefined, problem: 'not JSON' }
  }
  const parsed = storedWindowSchema.safeParse(data)
  if (!parsed.success) return { window: undefined, problem: parsed.error.issues[0]?.message ?? 'invalid' }
  if (parsed.data.id !== entry.key) return { window: undefined, problem: 'id differs from the key' }
  return openWindow(parsed.data, cipher)
}

/** Every valid window in the bucket now, with each one's revision. */
async function readAll (bucket: MaintenanceBucket, log: Logger, cipher: FieldCipher | undefined): Promise<Map<string, { window: MaintenanceWindow; revision: number }>> {
  const windows = new Map<string, { window: MaintenanceWindow; revision: number }>()
  let keyMissing: Error | undefined
  await readBucketOnce(bucket, function collect (entry) {
    let decoded: DecodedWindow
    try {
      decoded = decodeMaintenanceEntry(entry, cipher)
    } catch (err) {
      keyMissing ??= err as Error
      return
    }
    if (decoded.window === undefined) windows.delete(entry.key)
    else windows.set(entry.key, { window: decoded.window, revision: entry.revision })
  }, 'maintenance', log)
  if (keyMissing !== undefined) throw keyMissing
  return windows
}

/** The bucket for the CLI (and the store's writes): list, add, end. */
export function kvMaintenanceAdmin (bucket: MaintenanceBucket, log: Logger, cipher?: FieldCipher): MaintenanceAdmin {
  return {
    describe: `the cluster's bucket ${bucket.name}`,
    async list () { return [...(await readAll(bucket, log, cipher)).values()].map(function windowOf (e) { return e.window }) },
    async add (window) {
      await bucket.kv.create(window.id, JSON.stringify(sealWindow(window, cipher)))
      // Windows long over are dropped here rather than by a timer on every node.
      const nowMs = Date.now()
      for (const [id, entry] of await readAll(bucket, log, cipher)) {
        if (!isKept(entry.window, nowMs) && maintenanceIdSchema.safeParse(id).success) await bucket.kv.delete(id)
      }
    },
    async end (id, by, nowMs) {
      if (!maintenanceIdSchema.safeParse(id).success) return undefined
      const found = await bucket.kv.get(id)
      if (found === null) return undefined
      const decoded = decodeMaintenanceEntry(found, cipher)
      if (decoded.window === undefined) return undefined
      const ended = endedWindow(decoded.window, by, nowMs)
      if (ended === undefined) return undefined
      // Compare-and-set: an end made elsewhere meanwhile is not overwritten.
      await bucket.kv.update(id, JSON.stringify(sealWindow(ended, cipher)), found.revision)
      return ended
    },
  }
}
