// The running gateway's in-memory registry, shared by the file-backed (registry.ts) and the
// NATS KV-backed (cluster/registry-kv.ts) registries: lookups, and the names to disconnect when a
// change takes an entry away or gives it another secret. Either the whole registry is replaced
// (file reload) or one entry changes (KV watch); both report revocations the same way.
import { ENTRY_KINDS, SECTION_OF, type EntryKind, type EntryRecord } from './entries.ts'
import type { ConsumerRecord, CrewRecord, DeviceRecord, OperatorRecord, RegistryData } from './schema.ts'

export interface Registry {
  getDevice(id: string): DeviceRecord | undefined
  getCrew(name: string): CrewRecord | undefined
  /** Operator accounts sign in to the HTTP API and console only. */
  getOperator(name: string): OperatorRecord | undefined
  /** Outside consumers read data within their scope (HTTP Bearer token, MQTT `v1.1/…`). */
  getConsumer(name: string): ConsumerRecord | undefined
  /** Every registered device, in registry order (the API's device list). */
  listDevices(): IterableIterator<[string, DeviceRecord]>
  /** Counts for metrics and logs. */
  size(): { devices: number; crews: number }
  /** Called with the ids/names that disappeared or whose secret changed. */
  onRevoked(listener: (names: string[]) => void): void
  /** Reads the registry again now (the file) or waits until this node has applied every change made so far (NATS KV). */
  reload(): Promise<void>
  close(): void
}

export type RegistryLookups = Pick<Registry, 'getDevice' | 'getCrew' | 'getOperator' | 'getConsumer' | 'listDevices' | 'size' | 'onRevoked'>

export interface RegistryView {
  /** The Registry's lookups over the current entries (spread them into a Registry). */
  readonly lookups: RegistryLookups
  /** Installs a whole registry; tells the listeners what it revoked and returns it. */
  replaceAll(data: RegistryData): string[]
  /** Sets one entry (`undefined`: removed); tells the listeners if that revoked it and returns it. */
  apply(kind: EntryKind, name: string, record: EntryRecord | undefined): string[]
  counts(): { devices: number; crews: number; operators: number; consumers: number }
}

/** A name is revoked when its entry is gone or its secret changed; other changes keep sessions. */
function isRevoked (old: EntryRecord | undefined, next: EntryRecord | undefined): boolean {
  return old !== undefined && next?.secretHash !== old.secretHash
}

export function createRegistryView (log?: { warn(obj: object, msg: string): void }): RegistryView {
  const maps: { [K in EntryKind]: Map<string, EntryRecord> } = { device: new Map(), crew: new Map(), operator: new Map(), consumer: new Map() }
  const revokedListeners: ((names: string[]) => void)[] = []

  function tell (revoked: string[]): string[] {
    if (revoked.length === 0) return revoked
    for (const listener of revokedListeners) {
      try {
        listener(revoked)
      } catch (err) {
        log?.warn({ err }, 'revocation listener failed')
      }
    }
    return revoked
  }

  return {
    lookups: {
      getDevice (id) { return maps.device.get(id) as DeviceRecord | undefined },
      getCrew (name) { return maps.crew.get(name) },
      getOperator (name) { return maps.operator.get(name) },
      getConsumer (name) { return maps.consumer.get(name) as ConsumerRecord | undefined },
      listDevices () { return (maps.device as Map<string, DeviceRecord>).entries() },
      size () { return { devices: maps.device.size, crews: maps.crew.size } },
      onRevoked (listener) { revokedListeners.push(listener) },
    },
    counts () { return { devices: maps.device.size, crews: maps.crew.size, operators: maps.operator.size, consumers: maps.consumer.size } },

    replaceAll (data) {
      const revoked: string[] = []
      for (const kind of ENTRY_KINDS) {
        const next = new Map<string, EntryRecord>(Object.entries(data[SECTION_OF[kind]]))
        for (const [name, old] of maps[kind]) {
          if (isRevoked(old, next.get(name))) revoked.push(name)
        }
        maps[kind] = next
      }
      return tell(revoked)
    },

    apply (kind, name, record) {
      const old = maps[kind].get(name)
      if (record === undefined) maps[kind].delete(name)
      else maps[kind].set(name, record)
      return tell(isRevoked(old, record) ? [name] : [])
    },
  }
}
