// Where sessions are kept, by configuration: the cluster's csg-sessions bucket when NATS_URL is set,
// else DATA_DIR/sessions.json. The gateway opens a store (memory kept up to date); the CLI opens an
// admin view for one command (list, revoke), its NATS connection closed after it.
import type { NatsConnection } from '@nats-io/transport-node'
import { API_MAX_SESSIONS, type Config } from '../config.ts'
import { createLogger, type Logger } from '../log.ts'
import { openFileSessionStore } from '../sessions/file-store.ts'
import { fileSessionAdmin, sessionsPath, type SessionAdmin } from '../sessions/sessions-file.ts'
import type { SessionStore } from '../sessions/store.ts'
import { connectNats, replicasFor } from './connection.ts'
import { openSessionBucket, kvSessionAdmin } from './session-bucket.ts'
import { openKvSessionStore } from './session-kv-store.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { readDataKey } from '../crypto/data-key.ts'

export async function openSessionStore (config: Config, cluster: { nc: NatsConnection; replicas: number } | undefined, log: Logger, cipher: FieldCipher): Promise<SessionStore> {
  if (cluster === undefined) {
    return openFileSessionStore({ file: sessionsPath(config.DATA_DIR), pollMs: config.REGISTRY_POLL_MS, maxSessions: API_MAX_SESSIONS, log, cipher })
  }
  return openKvSessionStore({ bucket: await openSessionBucket(cluster.nc, cluster.replicas), maxSessions: API_MAX_SESSIONS, log, cipher })
}

export async function withSessionAdmin<T> (config: Config, action: (admin: SessionAdmin) => Promise<T>): Promise<T> {
  const log = createLogger('warn', process.stderr)
  // The CLI never creates a key: without one, sealed names stop the command (CSG_DATA_KEY_MISSING).
  const cipher = await readDataKey(config)
  if (config.NATS_URL.length === 0) return action(fileSessionAdmin(sessionsPath(config.DATA_DIR), log, cipher))
  const nc = await connectNats(config, 'citygw-cli', log)
  try {
    const bucket = await openSessionBucket(nc, await replicasFor(nc, config.NATS_REPLICAS))
    return await action(kvSessionAdmin(bucket, log, cipher))
  } finally {
    await nc.close()
  }
}
