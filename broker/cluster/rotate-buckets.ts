// `citygw key rotate` in cluster mode: every entry of the alarms, incidents, session and maintenance buckets
// sealed again with the new key, by compare-and-set per entry. Refused while a gateway node is alive:
// a node still holding the old key file could not open what rotate writes.
import { JetStreamApiError } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import type { z } from 'zod'
import { GatewayError } from '../errors.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { resealOpenAlarm } from '../crypto/sealed-alarm.ts'
import { storedIncidentSchema } from '../alarms/incident-record.ts'
import { resealStoredIncident } from '../crypto/sealed-incident.ts'
import { resealSession, storedSessionSchema } from '../crypto/sealed-session.ts'
import { resealWindow, storedWindowSchema } from '../crypto/sealed-window.ts'
import { storedAlarmSchema } from './alarm-entry.ts'
import { ALARMS_BUCKET, INCIDENTS_BUCKET, MAINTENANCE_BUCKET, SESSIONS_BUCKET } from './names.ts'
import { bucketKeys } from './kv-key.ts'
import { readClusterStatus } from './status.ts'

/** Tries per entry: each conflict means something else wrote it between read and write. */
const MAX_ATTEMPTS = 5

export interface BucketRotateCounts {
  alarms: number
  incidents: number
  sessions: number
  maintenance: number
}

/** Throws CSG_DATA_DIR_LOCKED when a gateway node of the cluster is alive. */
export async function refuseWhileNodesRun (nc: NatsConnection): Promise<void> {
  const status = await readClusterStatus(nc)
  if (status.nodes.length > 0) {
    const names = status.nodes.map(function nameOf (n) { return n.node }).join(', ')
    throw new GatewayError('CSG_DATA_DIR_LOCKED', `gateway nodes are running (${names}): stop every node, then rotate (the nodes' DATA_KEY_FILE must then be the rotated file)`)
  }
}

async function openIfPresent (nc: NatsConnection, name: string): Promise<KV | undefined> {
  const kv = await new Kvm(nc).open(name)
  try {
    await kv.status()
    return kv
  } catch (err) {
    if (err instanceof JetStreamApiError) return undefined // never created: nothing to rotate
    throw err
  }
}

async function resealBucket (nc: NatsConnection, name: string, kv: KV, reseal: (value: unknown) => object | undefined): Promise<number> {
  let count = 0
  for (const key of await bucketKeys(nc, name)) {
    for (let tries = 1; ; tries++) {
      const entry = await kv.get(key)
      if (entry === null || entry.operation !== 'PUT') break
      const next = reseal(JSON.parse(entry.string()))
      if (next === undefined) break
      try {
        await kv.update(key, JSON.stringify(next), entry.revision)
        count++
        break
      } catch (err) {
        if (tries >= MAX_ATTEMPTS) throw err
      }
    }
  }
  return count
}

/** Reseals every entry of a bucket that parses as `schema`; 0 when the bucket was never created. */
async function resealIfPresent<T> (nc: NatsConnection, name: string, schema: z.ZodType<T>, reseal: (value: T) => object): Promise<number> {
  const kv = await openIfPresent(nc, name)
  if (kv === undefined) return 0
  return await resealBucket(nc, name, kv, function resealEntry (value) {
    const parsed = schema.safeParse(value)
    return parsed.success ? reseal(parsed.data) : undefined
  })
}

export async function rotateBuckets (nc: NatsConnection, cipher: FieldCipher): Promise<BucketRotateCounts> {
  return {
    alarms: await resealIfPresent(nc, ALARMS_BUCKET, storedAlarmSchema, function resealStoredAlarm (alarm) { return resealOpenAlarm(alarm, cipher) }),
    incidents: await resealIfPresent(nc, INCIDENTS_BUCKET, storedIncidentSchema, function resealIncident (incident) { return resealStoredIncident(incident, cipher) }),
    sessions: await resealIfPresent(nc, SESSIONS_BUCKET, storedSessionSchema, function resealStoredSession (session) { return resealSession(session, cipher) }),
    maintenance: await resealIfPresent(nc, MAINTENANCE_BUCKET, storedWindowSchema, function resealStoredWindow (window) { return resealWindow(window, cipher) }),
  }
}
