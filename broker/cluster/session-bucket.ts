// The cluster's session bucket (csg-sessions): one key per session or trusted-device token, named by
// its public id, holding the record as JSON (sessions/record.ts: the token only as a hash). Created
// with the same settings by every node and by the CLI. Keys expire MAX_AGE_MS after their last
// write, longer than any session or device token lives; expired records are deleted by the nodes
// before that (auth.ts sweeps them). The account name is sealed with the data key.
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from '../log.ts'
import { API_DEVICE_TTL_DAYS_MAX } from '../config.ts'
import { sessionIdSchema, type SessionRecord } from '../sessions/record.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openSession, storedSessionSchema } from '../crypto/sealed-session.ts'
import type { SessionAdmin } from '../sessions/sessions-file.ts'
import { readBucketOnce, type BucketEntry, type FollowedBucket } from './bucket-follower.ts'
import { ensureBucket } from './jetstream-setup.ts'
import { SESSIONS_BUCKET } from './names.ts'

const DAY_MS = 24 * 60 * 60 * 1000
/** A key lives this long after its last write: beyond the longest trusted-device lifetime allowed. */
export const SESSION_BUCKET_MAX_AGE_MS = (API_DEVICE_TTL_DAYS_MAX + 1) * DAY_MS

export type SessionBucket = FollowedBucket

export async function openSessionBucket (nc: NatsConnection, replicas: number, name: string = SESSIONS_BUCKET): Promise<SessionBucket> {
  const jsm = await jetstreamManager(nc)
  const kv = await ensureBucket(nc, jsm, name, {
    replicas,
    history: 1,
    ttl: SESSION_BUCKET_MAX_AGE_MS,
    description: 'city-sensor-gateway API sessions and trusted devices (token hashes only)',
  })
  return { kv, jsm, name }
}

export type DecodedSession = { record: SessionRecord } | { record: undefined; problem?: string }

/**
 * The record of a bucket entry; undefined for a delete, or a problem for a value that does not
 * validate. The account name is opened with `cipher`; CSG_DATA_KEY_MISSING is thrown when it is
 * sealed with a key the cipher lacks (this node's key file is not the cluster's).
 */
export function decodeSessionEntry (entry: BucketEntry, cipher?: FieldCipher): DecodedSession {
  if (entry.operation !== 'PUT') return { record: undefined }
  let data: unknown
  try {
    data = JSON.parse(entry.string())
  } catch {
    return { record: undefined, problem: 'not JSON' }
  }
  const parsed = storedSessionSchema.safeParse(data)
  if (!parsed.success) return { record: undefined, problem: parsed.error.issues[0]?.message ?? 'invalid' }
  if (parsed.data.id !== entry.key) return { record: undefined, problem: 'id differs from the key' }
  return openSession(parsed.data, cipher)
}

/** Every valid record in the bucket now. */
async function readAll (bucket: SessionBucket, log: Logger, cipher: FieldCipher | undefined): Promise<SessionRecord[]> {
  const records = new Map<string, SessionRecord>()
  let keyMissing: Error | undefined
  await readBucketOnce(bucket, function collect (entry) {
    let decoded: DecodedSession
    try {
      decoded = decodeSessionEntry(entry, cipher)
    } catch (err) {
      keyMissing ??= err as Error
      return
    }
    if (decoded.record === undefined) records.delete(entry.key)
    else records.set(entry.key, decoded.record)
  }, 'session', log)
  if (keyMissing !== undefined) throw keyMissing
  return [...records.values()]
}

/** The bucket for the CLI: list and revoke. */
export function kvSessionAdmin (bucket: SessionBucket, log: Logger, cipher?: FieldCipher): SessionAdmin {
  return {
    describe: `the cluster's bucket ${bucket.name}`,
    list () { return readAll(bucket, log, cipher) },
    async remove (select) {
      const chosen = (await readAll(bucket, log, cipher)).filter(select)
      for (const record of chosen) {
        if (sessionIdSchema.safeParse(record.id).success) await bucket.kv.delete(record.id)
      }
      return chosen
    },
  }
}
