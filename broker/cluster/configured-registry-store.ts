// The registry a provisioning command (the CLI, `citygw simulate --provision`) works on: the
// cluster's NATS KV bucket when NATS_URL is set (cluster mode), else DATA_DIR/registry.json. The
// NATS connection lives for one command and is closed after it, so the command exits. Warnings (e.g. an invalid entry in the bucket) go to
// stderr as pino JSON; stdout stays for what the command prints.
import type { Config } from '../config.ts'
import { connectNats, replicasFor } from './connection.ts'
import { openRegistryBucket } from './registry-bucket.ts'
import { kvRegistryStore } from './registry-kv-store.ts'
import { createLogger } from '../log.ts'
import { fileRegistryStore, type RegistryStore } from '../registry/registry-store.ts'
import { registryPath } from '../registry/store.ts'

export async function withRegistryStore<T> (config: Config, action: (store: RegistryStore) => Promise<T>): Promise<T> {
  if (config.NATS_URL.length === 0) return action(fileRegistryStore(registryPath(config.DATA_DIR)))
  const log = createLogger('warn', process.stderr)
  const nc = await connectNats(config, 'citygw-cli', log)
  try {
    const bucket = await openRegistryBucket(nc, await replicasFor(nc, config.NATS_REPLICAS))
    return await action(kvRegistryStore(bucket, log))
  } finally {
    await nc.close()
  }
}
