// The cluster's NGSI-LD send guard: one key per entity in NGSI_NEWEST_BUCKET holding, per attribute,
// the newest value (by observedAt) any node's export has claimed. A node merges what it owes into the
// key by compare-and-set, sends the merged entity, and after the context broker took it checks the
// key again: a changed revision means another node merged something newer that may have reached the
// context broker first, so it is sent again. The last update the context broker takes of an entity
// is thereby the newest any node claimed; a node lost between merge and send leaves its telemetry
// unacknowledged, and the node it is redelivered to sends the merged entity.
import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { z } from 'zod'
import { ngsiAttributeSchema } from '../../devices/ngsi-model.ts'
import { GatewayError } from '../errors.ts'
import { isOlder, type PendingEntity } from '../ngsi/pending.ts'
import type { ClaimedEntity, SendGuard } from '../ngsi/send-guard.ts'
import { ensureBucket } from './jetstream-setup.ts'
import { openKvKeys, type KeyVersion } from './kv-cas.ts'
import { kvKeyOf } from './kv-key.ts'
import { NGSI_NEWEST_BUCKET } from './names.ts'

/** Compare-and-set attempts per entity before the round is retried later (other nodes keep winning). */
const MAX_ATTEMPTS = 20
/** Largest stored entity read, bytes (an entity is a few KiB). */
const MAX_ENTITY_BYTES = 256 * 1024

const storedSchema = z.object({ id: z.string(), type: z.string(), attributes: z.record(z.string(), ngsiAttributeSchema) })

/** A key outlives its entity's last update by this much beyond the backfill window. */
const KEEP_BEYOND_BACKFILL_MS = 24 * 60 * 60 * 1000

/**
 * Opens (or creates) NGSI_NEWEST_BUCKET. Its max age bounds it (one key per entity, renewed at each
 * of its updates) and exceeds the backfill window: once an entity's key expired, every reading the
 * gateway still accepts is newer than what the key held.
 */
export async function openNgsiNewest (cluster: { nc: NatsConnection; jsm: JetStreamManager; replicas: number }, backfillMs: number): Promise<SendGuard> {
  await ensureBucket(cluster.nc, cluster.jsm, NGSI_NEWEST_BUCKET, { replicas: cluster.replicas, history: 1, ttl: backfillMs + KEEP_BEYOND_BACKFILL_MS })
  return createNgsiNewest({ js: jetstream(cluster.nc), jsm: cluster.jsm })
}

export interface NgsiNewestOptions {
  js: JetStreamClient
  jsm: JetStreamManager
}

export function createNgsiNewest (options: NgsiNewestOptions): SendGuard {
  const keys = openKvKeys(options.js, options.jsm, NGSI_NEWEST_BUCKET)

  async function claimOne (owed: PendingEntity): Promise<ClaimedEntity> {
    const key = kvKeyOf(owed.id)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const latest = await keys.readLatest(key)
      const stored = storedIn(latest)
      const { entity, isChanged } = merged(stored, owed)
      const revision = latest?.revision ?? 0
      if (!isChanged && latest !== undefined) return { entity, revision }
      const written = await keys.compareAndSet(key, JSON.stringify(entity), revision)
      if (written !== undefined) return { entity, revision: written }
      // Another node merged first (or this write landed already): read and merge again.
    }
    throw new GatewayError('CSG_NGSI_RETRYABLE', `entity ${owed.id}: shared newest value kept changing`)
  }

  async function changedOne (claimed: ClaimedEntity): Promise<PendingEntity | undefined> {
    const latest = await keys.readLatest(kvKeyOf(claimed.entity.id))
    if (latest === undefined || latest.revision === claimed.revision) return undefined
    return storedIn(latest) ?? claimed.entity
  }

  return {
    claim (entities) {
      return Promise.all(entities.map(claimOne))
    },
    async changedSince (claimed) {
      const changed = await Promise.all(claimed.map(changedOne))
      return changed.filter(function isChanged (entity): entity is PendingEntity { return entity !== undefined })
    },
  }
}

/** The stored entity, or undefined for none, a delete marker or a value this version cannot read. */
function storedIn (latest: KeyVersion | undefined): PendingEntity | undefined {
  if (latest?.value === undefined || latest.value.length > MAX_ENTITY_BYTES) return undefined
  try {
    return storedSchema.safeParse(JSON.parse(Buffer.from(latest.value).toString('utf8'))).data
  } catch {
    return undefined
  }
}

/** Per attribute the newer of stored and owed (owed wins a tie and where either has no observedAt). */
function merged (stored: PendingEntity | undefined, owed: PendingEntity): { entity: PendingEntity; isChanged: boolean } {
  if (stored === undefined) return { entity: owed, isChanged: true }
  const attributes = { ...stored.attributes }
  let isChanged = stored.type !== owed.type
  for (const [name, attribute] of Object.entries(owed.attributes)) {
    const held = attributes[name]
    if (held !== undefined && isOlder(attribute, held)) continue
    if (held === undefined || JSON.stringify(held) !== JSON.stringify(attribute)) isChanged = true
    attributes[name] = attribute
  }
  return { entity: { id: owed.id, type: owed.type, attributes }, isChanged }
}
