// The maintenance store in cluster mode: the csg-maintenance bucket followed by a KV watch into
// memory, so a window added or ended on one node (or by the CLI) holds on every node at once.
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { MaintenanceStore } from '../maintenance/store.ts'
import type { MaintenanceWindow } from '../maintenance/window.ts'
import { followBucket } from './bucket-follower.ts'
import { decodeMaintenanceEntry, kvMaintenanceAdmin, type DecodedWindow, type MaintenanceBucket } from './maintenance-bucket.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'

/** Longest wait for the bucket's entries at start, and for a write of this node to come back. */
const LOAD_TIMEOUT_MS = 30_000
const CATCH_UP_MS = 5_000

export async function openKvMaintenanceStore (options: { bucket: MaintenanceBucket; log: Logger; cipher?: FieldCipher | undefined }): Promise<MaintenanceStore> {
  const { bucket } = options
  const log = options.log.child({ module: 'maintenance', bucket: bucket.name })
  const admin = kvMaintenanceAdmin(bucket, log, options.cipher)
  const windows = new Map<string, MaintenanceWindow>()
  let snapshot: readonly MaintenanceWindow[] = []
  const listeners: (() => void)[] = []
  let isLoaded = false

  function changed (): void {
    snapshot = [...windows.values()]
    if (!isLoaded) return
    for (const listener of listeners) {
      try {
        listener()
      } catch (err) {
        log.error({ err }, 'maintenance listener failed')
      }
    }
  }

  /** The first entry sealed with a key this node lacks: at start that stops it. */
  let keyMissing: Error | undefined
  const follower = followBucket(bucket, function applyEntry (entry) {
    let decoded: DecodedWindow
    try {
      decoded = decodeMaintenanceEntry(entry, options.cipher)
    } catch (err) {
      keyMissing ??= err as Error
      log.error({ err, key: entry.key }, 'maintenance bucket: entry sealed with a key this node\'s DATA_KEY_FILE lacks (every node needs the same key file)')
      return
    }
    if (decoded.window === undefined) {
      if ('problem' in decoded && decoded.problem !== undefined) log.warn({ key: entry.key, problem: decoded.problem }, 'maintenance bucket: invalid entry, treated as absent')
      windows.delete(entry.key)
    } else {
      windows.set(entry.key, decoded.window)
    }
    changed()
  }, log)
  if (!await follower.loaded(LOAD_TIMEOUT_MS)) {
    follower.stop()
    throw new GatewayError('CSG_NATS_UNAVAILABLE', `the maintenance bucket ${bucket.name} could not be read within ${LOAD_TIMEOUT_MS / 1000} s`)
  }
  if (keyMissing !== undefined) {
    follower.stop()
    throw keyMissing
  }
  isLoaded = true

  /** After a write of this node: answers show it once the watch brought it here. */
  async function settle (): Promise<void> {
    if (!await follower.caughtUp(CATCH_UP_MS)) log.warn({ reason: 'watch_behind' }, 'maintenance change not yet seen by this node')
  }

  return {
    describe: admin.describe,
    current () { return snapshot },
    list () { return Promise.resolve([...snapshot]) },
    async add (window) {
      await admin.add(window)
      await settle()
    },
    async end (id, by, nowMs) {
      const ended = await admin.end(id, by, nowMs)
      await settle()
      return ended
    },
    onChange (listener) { listeners.push(listener) },
    close () {
      follower.stop()
      return Promise.resolve()
    },
  }
}
