// The single-node session store: every record in memory, DATA_DIR/sessions.json on disk. The file
// is the truth shared with the CLI: each write takes the lock, reads the file, applies this
// gateway's pending changes (new records, removals, last-used times) and writes the result, so a
// revocation the CLI made meanwhile is kept, and a last-used time never brings a revoked record
// back. Changes made while a write runs go into the next one (writes are coalesced); last-used
// times wait up to TOUCH_WRITE_DELAY_MS for company. The file is polled for the CLI's changes.
import type { FieldCipher } from '../crypto/field-cipher.ts'
import type { Logger } from '../log.ts'
import { watchFileChanges } from '../watched-file.ts'
import { leastRecentlyUsed, type SessionRecord } from './record.ts'
import { readSessionsFile, updateSessionsFile } from './sessions-file.ts'
import { createRemovedListeners, createSessionTable, type SessionStore } from './store.ts'

/** Longest a last-used time waits before it is written. */
const TOUCH_WRITE_DELAY_MS = 15_000

export interface FileSessionStoreOptions {
  file: string
  /** How often the file is checked for changes made by the CLI, ms. */
  pollMs: number
  /** Most records kept; beyond it the least recently used is dropped. */
  maxSessions: number
  log: Logger
  /** Seals account names in the file. */
  cipher?: FieldCipher | undefined
  now?: () => number
}

interface PendingChanges {
  added: Map<string, SessionRecord>
  touched: Map<string, number>
  removed: Set<string>
}

function noChanges (): PendingChanges {
  return { added: new Map(), touched: new Map(), removed: new Set() }
}

function hasChanges (changes: PendingChanges): boolean {
  return changes.added.size + changes.touched.size + changes.removed.size > 0
}

/** The file's records with `changes` applied, expired ones pruned, at most `max` (the most recently used). */
function applyChanges (records: readonly SessionRecord[], changes: PendingChanges, nowMs: number, max: number): SessionRecord[] {
  const byId = new Map(records.map(function entry (r) { return [r.id, r] as const }))
  for (const id of changes.removed) byId.delete(id)
  for (const [id, atMs] of changes.touched) {
    const record = byId.get(id)
    if (record !== undefined && atMs > record.lastUsedAt) byId.set(id, { ...record, lastUsedAt: atMs })
  }
  for (const record of changes.added.values()) byId.set(record.id, record)
  const live = [...byId.values()].filter(function isLive (r) { return r.expiresAt > nowMs })
  if (live.length <= max) return live
  return live.sort(function recentFirst (a, b) { return b.lastUsedAt - a.lastUsedAt }).slice(0, max)
}

export async function openFileSessionStore (options: FileSessionStoreOptions): Promise<SessionStore> {
  const { file, maxSessions } = options
  const now = options.now ?? Date.now
  const log = options.log.child({ module: 'sessions', file })
  const table = createSessionTable()
  const removedListeners = createRemovedListeners(function listenerFailed (err) { log.error({ err }, 'session removal listener failed') })
  let pending = noChanges()
  let queue: Promise<void> = Promise.resolve()
  /** A write queued and not yet started: changes made before it starts go with it. */
  let queuedWrite: Promise<void> | undefined
  let touchTimer: NodeJS.Timeout | undefined
  let isClosed = false

  /** Runs file work one task at a time; a failed task does not stop the ones after it. */
  function serial (task: () => Promise<void>): Promise<void> {
    const run = queue.then(task)
    queue = run.catch(function keepGoing () {})
    return run
  }

  /** Memory becomes the file's records plus what is still pending. */
  function refresh (records: readonly SessionRecord[]): void {
    removedListeners.emit(table.replaceAll(applyChanges(records, pending, now(), maxSessions)))
  }

  async function write (): Promise<void> {
    const changes = pending
    pending = noChanges()
    try {
      const written = await updateSessionsFile(file, function merge (records) { return applyChanges(records, changes, now(), maxSessions) }, log, options.cipher)
      refresh(written)
    } catch (err) {
      // Kept for the next write; changes made since take precedence.
      for (const [id, record] of changes.added) if (!pending.removed.has(id)) pending.added.set(id, record)
      for (const [id, atMs] of changes.touched) if (!pending.touched.has(id)) pending.touched.set(id, atMs)
      for (const id of changes.removed) pending.removed.add(id)
      log.error({ err, reason: 'write_failed' }, 'sessions file not written')
      throw err
    }
  }

  function writeSoon (): Promise<void> {
    queuedWrite ??= serial(function startWrite () {
      queuedWrite = undefined
      return write()
    })
    return queuedWrite
  }

  function reload (): void {
    if (isClosed) return
    serial(async function readFile () { refresh(await readSessionsFile(file, log, options.cipher)) }).catch(function reloadFailed (err: unknown) {
      log.error({ err, reason: 'read_failed' }, 'sessions file not reloaded')
    })
  }

  refresh(await readSessionsFile(file, log, options.cipher))
  const watcher = watchFileChanges(file, options.pollMs, reload)

  return {
    byTokenHash (tokenHash) { return table.byTokenHash(tokenHash) },
    get (id) { return table.get(id) },
    list () { return table.list() },
    add (record) {
      if (table.size() >= maxSessions) {
        const oldest = leastRecentlyUsed(table.list())
        if (oldest !== undefined) {
          table.delete(oldest.id)
          pending.added.delete(oldest.id)
          pending.removed.add(oldest.id)
          removedListeners.emit([oldest])
        }
      }
      table.set(record)
      pending.added.set(record.id, record)
      return writeSoon()
    },
    touch (id, atMs) {
      const record = table.get(id)
      if (record === undefined || atMs <= record.lastUsedAt) return
      table.set({ ...record, lastUsedAt: atMs })
      const added = pending.added.get(id)
      if (added === undefined) pending.touched.set(id, atMs)
      else pending.added.set(id, { ...added, lastUsedAt: atMs })
      touchTimer ??= setTimeout(function writeTouches () {
        touchTimer = undefined
        writeSoon().catch(function touchesNotWritten () {}) // logged by write()
      }, TOUCH_WRITE_DELAY_MS)
      touchTimer.unref()
    },
    remove (ids) {
      const gone: SessionRecord[] = []
      for (const id of ids) {
        const record = table.delete(id)
        if (record !== undefined) gone.push(record)
        pending.added.delete(id)
        pending.touched.delete(id)
        pending.removed.add(id)
      }
      removedListeners.emit(gone)
      return writeSoon()
    },
    onRemoved (listener) { removedListeners.add(listener) },
    async close () {
      isClosed = true
      watcher.close()
      clearTimeout(touchTimer)
      touchTimer = undefined
      if (hasChanges(pending)) await writeSoon().catch(function notWritten () {}) // logged by write()
      await queue
    },
  }
}
