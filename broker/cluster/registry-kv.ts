// The running gateway's registry in cluster mode: the registry bucket followed by a KV watch. Every
// node loads all entries at start, then applies each change as the watch delivers it (within
// milliseconds of the write), so a removed device or a changed secret is reported by onRevoked on
// every node and its sessions are closed there. When the NATS server hosting a node's watch is
// lost, that node applies the changes about 2 s late (bucket-follower.ts notices the stall and
// reads the missed revisions). An invalid entry is logged and counts as absent, as it does for the
// CLI and for a node that starts later. Memory holds what the bucket holds.
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { createRegistryView, type Registry } from '../registry/registry-view.ts'
import { followBucket } from './bucket-follower.ts'
import type { RegistryBucket } from './registry-bucket.ts'
import { decodeRegistryEntry } from './registry-kv-entries.ts'

/** Longest wait for the bucket's entries at start. */
const LOAD_TIMEOUT_MS = 30_000
/** Longest wait in reload() for this node to apply the changes made before it was called. */
const CATCH_UP_TIMEOUT_MS = 5_000

export interface KvRegistryOptions {
  bucket: RegistryBucket
  log: Logger
}

export async function openKvRegistry (options: KvRegistryOptions): Promise<Registry> {
  const { bucket } = options
  const log = options.log.child({ module: 'registry', bucket: bucket.name })
  const view = createRegistryView(log)
  let isLoaded = false

  const follower = followBucket(bucket, function applyEntry (entry) {
    const decoded = decodeRegistryEntry(entry)
    if (decoded === undefined) {
      log.warn({ key: entry.key }, 'registry bucket: key outside the layout ignored')
      return
    }
    if (decoded.problem !== undefined) log.warn({ key: entry.key, problem: decoded.problem }, 'registry bucket: invalid entry, treated as absent')
    const revoked = view.apply(decoded.kind, decoded.name, decoded.record)
    if (revoked.length > 0) log.info({ kind: decoded.kind, name: decoded.name }, 'registry entry revoked')
    else if (isLoaded) log.debug({ kind: decoded.kind, name: decoded.name, removed: decoded.record === undefined }, 'registry entry changed')
  }, log)
  if (!await follower.loaded(LOAD_TIMEOUT_MS)) {
    follower.stop()
    throw new GatewayError('CSG_NATS_UNAVAILABLE', `the registry bucket ${bucket.name} could not be read within ${LOAD_TIMEOUT_MS / 1000} s`)
  }
  isLoaded = true
  log.info(view.counts(), 'registry loaded')

  return {
    ...view.lookups,
    async reload () {
      try {
        if (!await follower.caughtUp(CATCH_UP_TIMEOUT_MS)) log.warn({ timeoutMs: CATCH_UP_TIMEOUT_MS }, 'registry not caught up with the bucket in time')
      } catch (err) {
        log.warn({ err }, 'registry bucket unreachable; keeping the current view')
      }
    },
    close () { follower.stop() },
  }
}
