// The registry a provisioning command works on: the cluster's NATS KV bucket when NATS_URL is set
// (cluster mode), else DATA_DIR/registry.json. The NATS connection lives for one command and is
// closed after it, so the command exits. Warnings (e.g. an invalid entry in the bucket) go to
// stderr as pino JSON; stdout stays for what the command prints.
import { loadConfig } from '../broker/config.ts'
import { connectNats, replicasFor } from '../broker/cluster/connection.ts'
import { openRegistryBucket } from '../broker/cluster/registry-bucket.ts'
import { kvRegistryStore } from '../broker/cluster/registry-kv-store.ts'
import { createLogger } from '../broker/log.ts'
import { fileRegistryStore, type RegistryStore } from '../broker/registry/registry-store.ts'
import { registryPath } from '../broker/registry/store.ts'

export async function withRegistryStore<T> (action: (store: RegistryStore) => Promise<T>): Promise<T> {
  const config = loadConfig()
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
