// The cluster's maintenance bucket (csg-maintenance): one key per window, named by its id, holding
// the window as JSON. Created with the same settings by every node and by the CLI.
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from '../log.ts'
import { endedWindow, isKept, type MaintenanceAdmin } from '../maintenance/store.ts'
import { maintenanceIdSchema, maintenanceWindowSchema, type MaintenanceWindow } from '../maintenance/window.ts'
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

/** The window of a bucket entry; undefined for a delete, or a problem for a value that does not validate. */
export function decodeMaintenanceEntry (entry: BucketEntry): DecodedWindow {
  if (entry.operation !== 'PUT') return { window: undefined }
  let data: unknown
  try {
    data = JSON.parse(entry.string())
  } catch {
    return { window: undefined, problem: 'not JSON' }
  }
  const parsed = maintenanceWindowSchema.safeParse(data)
  if (!parsed.success) return { window: undefined, problem: parsed.error.issues[0]?.message ?? 'invalid' }
  if (parsed.data.id !== entry.key) return { window: undefined, problem: 'id differs from the key' }
  return { window: parsed.data }
}

/** Every valid window in the bucket now, with each one's revision. */
async function readAll (bucket: MaintenanceBucket, log: Logger): Promise<Map<string, { window: MaintenanceWindow; revision: number }>> {
  const windows = new Map<string, { window: MaintenanceWindow; revision: number }>()
  await readBucketOnce(bucket, function collect (entry) {
    const decoded = decodeMaintenanceEntry(entry)
    if (decoded.window === undefined) windows.delete(entry.key)
    else windows.set(entry.key, { window: decoded.window, revision: entry.revision })
  }, 'maintenance', log)
  return windows
}

/** The bucket for the CLI (and the store's writes): list, add, end. */
export function kvMaintenanceAdmin (bucket: MaintenanceBucket, log: Logger): MaintenanceAdmin {
  return {
    describe: `the cluster's bucket ${bucket.name}`,
    async list () { return [...(await readAll(bucket, log)).values()].map(function windowOf (e) { return e.window }) },
    async add (window) {
      await bucket.kv.create(window.id, JSON.stringify(window))
      // Windows long over are dropped here rather than by a timer on every node.
      const nowMs = Date.now()
      for (const [id, entry] of await readAll(bucket, log)) {
        if (!isKept(entry.window, nowMs) && maintenanceIdSchema.safeParse(id).success) await bucket.kv.delete(id)
      }
    },
    async end (id, by, nowMs) {
      if (!maintenanceIdSchema.safeParse(id).success) return undefined
      const found = await bucket.kv.get(id)
      if (found === null) return undefined
      const decoded = decodeMaintenanceEntry(found)
      if (decoded.window === undefined) return undefined
      const ended = endedWindow(decoded.window, by, nowMs)
      if (ended === undefined) return undefined
      // Compare-and-set: an end made elsewhere meanwhile is not overwritten.
      await bucket.kv.update(id, JSON.stringify(ended), found.revision)
      return ended
    },
  }
}
