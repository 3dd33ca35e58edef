// Where provisioning reads and changes the registry: DATA_DIR/registry.json on a single node, the
// NATS KV bucket in cluster mode (cluster/registry-kv-store.ts). `update` runs `mutate` on the
// current registry and writes what it changed; if `mutate` throws, nothing is written.
import type { RegistryData } from './schema.ts'
import { readRegistry, updateRegistry } from './store.ts'

export interface RegistryStore {
  /** What this store is, for messages (a file path or a bucket name). */
  readonly describe: string
  read(): Promise<RegistryData>
  update<T>(mutate: (data: RegistryData) => T): Promise<T>
}

/** A store, or the path of a registry.json (shorthand for its file store). */
export type RegistryTarget = RegistryStore | string

export function fileRegistryStore (file: string): RegistryStore {
  return {
    describe: file,
    read () { return readRegistry(file) },
    update (mutate) { return updateRegistry(file, mutate) },
  }
}

export function registryStoreOf (target: RegistryTarget): RegistryStore {
  return typeof target === 'string' ? fileRegistryStore(target) : target
}
