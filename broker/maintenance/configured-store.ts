// Where maintenance windows are kept, by configuration: the cluster's csg-maintenance bucket when
// NATS_URL is set, else DATA_DIR/maintenance.json (polled every REGISTRY_POLL_MS for the CLI's
// changes). The gateway opens a store with memory; the CLI an admin view for one command.
import type { NatsConnection } from '@nats-io/transport-node'
import { connectNats, replicasFor } from '../cluster/connection.ts'
import { kvMaintenanceAdmin, openMaintenanceBucket } from '../cluster/maintenance-bucket.ts'
import { openKvMaintenanceStore } from '../cluster/maintenance-kv-store.ts'
import type { Config } from '../config.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { readDataKey } from '../crypto/data-key.ts'
import { createLogger } from '../log.ts'
import type { Logger } from '../log.ts'
import type { Registry } from '../registry/registry.ts'
import { fileMaintenanceAdmin, openFileMaintenanceStore } from './file-store.ts'
import { startMaintenanceGate, type MaintenanceGate } from './gate.ts'
import { maintenancePath } from './maintenance-file.ts'
import type { MaintenanceAdmin, MaintenanceStore } from './store.ts'

export async function openMaintenanceStore (config: Config, cluster: { nc: NatsConnection; replicas: number } | undefined, log: Logger, cipher: FieldCipher): Promise<MaintenanceStore> {
  if (cluster === undefined) return openFileMaintenanceStore({ file: maintenancePath(config.DATA_DIR), pollMs: config.REGISTRY_POLL_MS, log, cipher })
  return openKvMaintenanceStore({ bucket: await openMaintenanceBucket(cluster.nc, cluster.replicas), log, cipher })
}

/** Runs one CLI action on the windows (the bucket's NATS connection is closed after it). */
export async function withMaintenanceAdmin<T> (config: Config, action: (admin: MaintenanceAdmin) => Promise<T>): Promise<T> {
  const log = createLogger('warn', process.stderr)
  // The CLI never creates a key: without one, sealed names stop the command (CSG_DATA_KEY_MISSING).
  const cipher = await readDataKey(config)
  if (config.NATS_URL.length === 0) return action(fileMaintenanceAdmin(maintenancePath(config.DATA_DIR), log, cipher))
  const nc = await connectNats(config, 'citygw-cli', log)
  try {
    const bucket = await openMaintenanceBucket(nc, await replicasFor(nc, config.NATS_REPLICAS))
    return await action(kvMaintenanceAdmin(bucket, log, cipher))
  } finally {
    await nc.close()
  }
}

/** A device's group in the registry, if it has one. */
export function registryGroupOf (registry: Pick<Registry, 'getDevice'>): (deviceId: string) => string | undefined {
  return function groupOf (deviceId) { return registry.getDevice(deviceId)?.group }
}

export function startGate (store: MaintenanceStore, registry: Pick<Registry, 'getDevice'>, log: Logger): MaintenanceGate {
  return startMaintenanceGate({ store, groupOf: registryGroupOf(registry), log })
}
