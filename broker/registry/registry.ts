// The running gateway's read-only view of DATA_DIR/registry.json. Reloads when the CLI changes the
// file (stat polling survives the atomic rename) and reports devices and crews that went away, so
// their sessions can be closed. A bad file is logged and the last good view kept.
import type { Logger } from '../log.ts'
import { watchFileChanges } from '../watched-file.ts'
import type { CrewRecord, DeviceRecord, OperatorRecord, RegistryData } from './schema.ts'
import { readRegistry } from './store.ts'

export interface Registry {
  getDevice(id: string): DeviceRecord | undefined
  getCrew(name: string): CrewRecord | undefined
  /** Operator accounts sign in to the HTTP API and console only. */
  getOperator(name: string): OperatorRecord | undefined
  /** Every registered device, in registry order (the API's device list). */
  listDevices(): IterableIterator<[string, DeviceRecord]>
  /** Counts for metrics and logs. */
  size(): { devices: number; crews: number }
  /** Called with the ids/names that disappeared or whose secret changed after a reload. */
  onRevoked(listener: (names: string[]) => void): void
  /** Reads the file again now (also done automatically on change). */
  reload(): Promise<void>
  close(): void
}

export interface RegistryOptions { file: string; pollMs: number; log: Logger }

export async function openRegistry (options: RegistryOptions): Promise<Registry> {
  const log = options.log.child({ module: 'registry' })
  let devices = new Map<string, DeviceRecord>()
  let crews = new Map<string, CrewRecord>()
  let operators = new Map<string, OperatorRecord>()
  const revokedListeners: ((names: string[]) => void)[] = []
  let reloading: Promise<void> = Promise.resolve()

  function install (data: RegistryData): string[] {
    const nextDevices = new Map(Object.entries(data.devices))
    const nextCrews = new Map(Object.entries(data.crews))
    const nextOperators = new Map(Object.entries(data.operators))
    const revoked: string[] = []
    for (const [id, old] of devices) {
      if (nextDevices.get(id)?.secretHash !== old.secretHash) revoked.push(id)
    }
    for (const [name, old] of crews) {
      if (nextCrews.get(name)?.secretHash !== old.secretHash) revoked.push(name)
    }
    for (const [name, old] of operators) {
      if (nextOperators.get(name)?.secretHash !== old.secretHash) revoked.push(name)
    }
    devices = nextDevices
    crews = nextCrews
    operators = nextOperators
    return revoked
  }

  async function loadNow (): Promise<void> {
    try {
      const revoked = install(await readRegistry(options.file))
      log.info({ devices: devices.size, crews: crews.size, revoked: revoked.length }, 'registry loaded')
      if (revoked.length > 0) {
        for (const listener of revokedListeners) listener(revoked)
      }
    } catch (err) {
      log.error({ err, file: options.file }, 'registry file unreadable; keeping the previous view')
    }
  }

  function reload (): Promise<void> {
    reloading = reloading.then(loadNow)
    return reloading
  }

  install(await readRegistry(options.file))
  log.info({ devices: devices.size, crews: crews.size }, 'registry loaded')
  const watched = watchFileChanges(options.file, options.pollMs, function registryChanged () { void reload() })

  return {
    getDevice (id) { return devices.get(id) },
    getCrew (name) { return crews.get(name) },
    getOperator (name) { return operators.get(name) },
    listDevices () { return devices.entries() },
    size () { return { devices: devices.size, crews: crews.size } },
    onRevoked (listener) { revokedListeners.push(listener) },
    reload,
    close () { watched.close() },
  }
}
