// The session store in cluster mode: the csg-sessions bucket followed by a KV watch into memory, so
// a session made on one node is accepted on every node within milliseconds, survives restarts, and
// a revocation (the CLI, another node's API) reaches every node the same way. A new record is also
// put in memory at once, so the node that made it accepts it before the watch brings it back.
// Last-used times are written by compare-and-set on the revision last seen: a record revoked
// meanwhile is not brought back.
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { leastRecentlyUsed, type SessionRecord } from '../sessions/record.ts'
import { createRemovedListeners, createSessionTable, type SessionStore } from '../sessions/store.ts'
import { followBucket } from './bucket-follower.ts'
import { decodeSessionEntry, type DecodedSession, type SessionBucket } from './session-bucket.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { sealSession } from '../crypto/sealed-session.ts'

/** Longest wait for the bucket's entries at start. */
const LOAD_TIMEOUT_MS = 30_000

export interface KvSessionStoreOptions {
  bucket: SessionBucket
  maxSessions: number
  log: Logger
  /** Seals account names in the bucket; every node must hold the same key file. */
  cipher?: FieldCipher | undefined
}

export async function openKvSessionStore (options: KvSessionStoreOptions): Promise<SessionStore> {
  const { bucket, maxSessions } = options
  const log = options.log.child({ module: 'sessions', bucket: bucket.name })
  const table = createSessionTable()
  const revisions = new Map<string, number>()
  const removedListeners = createRemovedListeners(function listenerFailed (err) { log.error({ err }, 'session removal listener failed') })
  const writes = new Set<Promise<unknown>>()

  function track<T> (write: Promise<T>): Promise<T> {
    writes.add(write)
    void write.finally(function untrack () { writes.delete(write) }).catch(function handledByCaller () {})
    return write
  }

  /** The first entry sealed with a key this node lacks: at start that stops it. */
  let keyMissing: Error | undefined
  const follower = followBucket(bucket, function applyEntry (entry) {
    let decoded: DecodedSession
    try {
      decoded = decodeSessionEntry(entry, options.cipher)
    } catch (err) {
      keyMissing ??= err as Error
      log.error({ err, key: entry.key }, 'session bucket: entry sealed with a key this node\'s DATA_KEY_FILE lacks (every node needs the same key file)')
      return
    }
    if (decoded.record === undefined) {
      if ('problem' in decoded && decoded.problem !== undefined) log.warn({ key: entry.key, problem: decoded.problem }, 'session bucket: invalid entry, treated as absent')
      revisions.delete(entry.key)
      const gone = table.delete(entry.key)
      if (gone !== undefined) removedListeners.emit([gone])
      return
    }
    revisions.set(entry.key, entry.revision)
    table.set(decoded.record)
  }, log)
  if (!await follower.loaded(LOAD_TIMEOUT_MS)) {
    follower.stop()
    throw new GatewayError('CSG_NATS_UNAVAILABLE', `the session bucket ${bucket.name} could not be read within ${LOAD_TIMEOUT_MS / 1000} s`)
  }
  if (keyMissing !== undefined) {
    follower.stop()
    throw keyMissing
  }

  async function removeOne (id: string): Promise<void> {
    const gone = table.delete(id)
    revisions.delete(id)
    if (gone !== undefined) removedListeners.emit([gone])
    await track(bucket.kv.delete(id))
  }

  return {
    byTokenHash (tokenHash) { return table.byTokenHash(tokenHash) },
    get (id) { return table.get(id) },
    list () { return table.list() },
    async add (record) {
      if (table.size() >= maxSessions) {
        const oldest = leastRecentlyUsed(table.list())
        if (oldest !== undefined) await removeOne(oldest.id)
      }
      table.set(record)
      let revision: number
      try {
        revision = await track(bucket.kv.create(record.id, JSON.stringify(sealSession(record, options.cipher))))
      } catch (err) {
        table.delete(record.id) // not stored: it must not sign anyone in here either
        throw err
      }
      if ((revisions.get(record.id) ?? 0) < revision) revisions.set(record.id, revision)
    },
    touch (id, atMs) {
      const record = table.get(id)
      const revision = revisions.get(id)
      if (record === undefined || revision === undefined || atMs <= record.lastUsedAt) return
      const touched: SessionRecord = { ...record, lastUsedAt: atMs }
      table.set(touched)
      track(bucket.kv.update(id, JSON.stringify(sealSession(touched, options.cipher)), revision)).catch(function notTouched (err: unknown) {
        // Changed or removed meanwhile: the watch brings what is there.
        log.debug({ err, sessionId: id }, 'last-used time not written')
      })
    },
    async remove (ids) {
      await Promise.all(ids.map(removeOne))
    },
    onRemoved (listener) { removedListeners.add(listener) },
    async close () {
      await Promise.allSettled([...writes])
      follower.stop()
    },
  }
}
