// The single-node maintenance store: DATA_DIR/maintenance.json, held in memory and polled for the
// CLI's changes (like the registry). Every change goes through the file under its lock, so the API
// and the CLI never overwrite each other's windows.
import type { FieldCipher } from '../crypto/field-cipher.ts'
import type { Logger } from '../log.ts'
import { watchFileChanges } from '../watched-file.ts'
import { readMaintenanceFile, updateMaintenanceFile } from './maintenance-file.ts'
import { endedWindow, isKept, type MaintenanceAdmin, type MaintenanceStore } from './store.ts'
import type { MaintenanceWindow } from './window.ts'

/** The file for one CLI command: no memory, no polling. */
export function fileMaintenanceAdmin (file: string, log?: Logger, cipher?: FieldCipher): MaintenanceAdmin {
  return {
    describe: file,
    list () { return readMaintenanceFile(file, log, cipher) },
    async add (window) {
      await updateMaintenanceFile(file, function append (windows) {
        return [...windows.filter(function kept (w) { return isKept(w, Date.now()) }), window]
      }, log, cipher)
    },
    async end (id, by, nowMs) {
      let ended: MaintenanceWindow | undefined
      await updateMaintenanceFile(file, function endOne (windows) {
        return windows.map(function maybeEnd (w) {
          if (w.id !== id) return w
          ended = endedWindow(w, by, nowMs)
          return ended ?? w
        })
      }, log, cipher)
      return ended
    },
  }
}

export interface FileMaintenanceStoreOptions {
  file: string
  /** How often the file is checked for the CLI's changes, ms. */
  pollMs: number
  log: Logger
  /** Seals who added and ended windows in the file. */
  cipher?: FieldCipher | undefined
}

export async function openFileMaintenanceStore (options: FileMaintenanceStoreOptions): Promise<MaintenanceStore> {
  const log = options.log.child({ module: 'maintenance', file: options.file })
  const admin = fileMaintenanceAdmin(options.file, log, options.cipher)
  const listeners: (() => void)[] = []
  let windows: readonly MaintenanceWindow[] = await readMaintenanceFile(options.file, log, options.cipher)
  let isClosed = false
  let queue: Promise<void> = Promise.resolve()

  function install (next: readonly MaintenanceWindow[]): void {
    windows = next
    for (const listener of listeners) {
      try {
        listener()
      } catch (err) {
        log.error({ err }, 'maintenance listener failed')
      }
    }
  }

  /** File work one task at a time, so a reload never installs an older file over a newer write. */
  function serial<T> (task: () => Promise<T>): Promise<T> {
    const run = queue.then(task)
    queue = run.then(function done () {}, function keepGoing () {})
    return run
  }

  function reload (): Promise<void> {
    return serial(async function readAgain () {
      if (!isClosed) install(await readMaintenanceFile(options.file, log, options.cipher))
    })
  }

  const watcher = watchFileChanges(options.file, options.pollMs, function changed () {
    reload().catch(function notReloaded (err: unknown) { log.error({ err, reason: 'read_failed' }, 'maintenance file not reloaded') })
  })

  return {
    describe: options.file,
    current () { return windows },
    list () { return Promise.resolve([...windows]) },
    async add (window) {
      await serial(function write () { return admin.add(window) })
      await reload()
    },
    async end (id, by, nowMs) {
      const ended = await serial(function write () { return admin.end(id, by, nowMs) })
      await reload()
      return ended
    },
    onChange (listener) { listeners.push(listener) },
    async close () {
      isClosed = true
      watcher.close()
      await queue
    },
  }
}
