// Where sessions are kept so that they survive a restart: DATA_DIR/sessions.json on a single node
// (file-store.ts), the csg-sessions KV bucket in a cluster (cluster/session-kv-store.ts). Both keep
// every record in memory, so a request's lookup is synchronous; changes made elsewhere (the CLI,
// another node) reach that memory through the file's polling or the bucket's watch.
import type { SessionRecord } from './record.ts'

export interface SessionStore {
  /** The record a token hashes to, from memory; expiry and account are the caller's to check. */
  byTokenHash(tokenHash: string): SessionRecord | undefined
  get(id: string): SessionRecord | undefined
  list(): SessionRecord[]
  /** Stores a new record; resolves once it is durable. Beyond the maximum count the least recently used record is dropped. */
  add(record: SessionRecord): Promise<void>
  /** Notes a use; stored with the next write, not waited for. */
  touch(id: string, atMs: number): void
  /** Removes records; resolves once that is durable. Unknown ids are ignored. */
  remove(ids: readonly string[]): Promise<void>
  /** Called with the records that left memory for any reason (removed here or elsewhere, expired, dropped). */
  onRemoved(listener: (records: readonly SessionRecord[]) => void): void
  /** Writes what is pending and stops following changes. */
  close(): Promise<void>
}

/** The in-memory side both stores share: records by id and by token hash. */
export interface SessionTable {
  get(id: string): SessionRecord | undefined
  byTokenHash(tokenHash: string): SessionRecord | undefined
  list(): SessionRecord[]
  size(): number
  set(record: SessionRecord): void
  /** Removes one record; returns it when it was there. */
  delete(id: string): SessionRecord | undefined
  /** Replaces everything; returns the records that are gone. */
  replaceAll(records: readonly SessionRecord[]): SessionRecord[]
}

export function createSessionTable (): SessionTable {
  const byId = new Map<string, SessionRecord>()
  const idByHash = new Map<string, string>()

  function remove (id: string): SessionRecord | undefined {
    const record = byId.get(id)
    if (record === undefined) return undefined
    byId.delete(id)
    idByHash.delete(record.tokenHash)
    return record
  }

  return {
    get (id) { return byId.get(id) },
    byTokenHash (tokenHash) {
      const id = idByHash.get(tokenHash)
      return id === undefined ? undefined : byId.get(id)
    },
    list () { return [...byId.values()] },
    size () { return byId.size },
    set (record) {
      const previous = byId.get(record.id)
      if (previous !== undefined && previous.tokenHash !== record.tokenHash) idByHash.delete(previous.tokenHash)
      byId.set(record.id, record)
      idByHash.set(record.tokenHash, record.id)
    },
    delete: remove,
    replaceAll (records) {
      const kept = new Set(records.map(function idOf (r) { return r.id }))
      const gone: SessionRecord[] = []
      for (const record of [...byId.values()]) {
        if (!kept.has(record.id)) gone.push(record)
      }
      byId.clear()
      idByHash.clear()
      for (const record of records) {
        byId.set(record.id, record)
        idByHash.set(record.tokenHash, record.id)
      }
      return gone
    },
  }
}

/** Calls each listener, logging instead of throwing when one fails. */
export function createRemovedListeners (onError: (err: unknown) => void): { add(listener: (records: readonly SessionRecord[]) => void): void; emit(records: readonly SessionRecord[]): void } {
  const listeners: ((records: readonly SessionRecord[]) => void)[] = []
  return {
    add (listener) { listeners.push(listener) },
    emit (records) {
      if (records.length === 0) return
      for (const listener of listeners) {
        try {
          listener(records)
        } catch (err) {
          onError(err)
        }
      }
    },
  }
}
