// Which node runs the offline check: the holder of one key in the LEASES_BUCKET. The bucket's
// max age (its `ttl`) is the lease time: the holder renews the key by compare-and-set every third
// of it; when the holder stops (dies, loses NATS) the server drops the key and another node's
// compare-and-set takes it — within 4/3 of the max age. The lease only spares work: two nodes that
// both believe they hold it still raise each alarm once (the alarms bucket's compare-and-set), and
// the one whose write was not the last finds out at its next renewal. Its writes carry no message
// id (kv-cas.ts): the key is created again after each expiry.
import type { KV } from '@nats-io/kv'
import { z } from 'zod'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { isConflict, type KeyVersion, type KvKeys } from './kv-cas.ts'
import { OFFLINE_LEASE_KEY } from './names.ts'

/** `node` is what `citygw cluster status` shows (status.ts). */
const leaseValueSchema = z.object({ node: z.string(), writer: z.string(), since: z.string() })

export interface OfflineLeaseOptions {
  /** The LEASES_BUCKET, created with a max age. */
  kv: KV
  /** Its keys written and read one at a time (kv-cas.ts). */
  keys: KvKeys
  nodeName: string
  /** This run of this node (`<NODE_NAME>#<random>`). */
  writer: string
  log: Logger
}

export interface OfflineLease {
  /** This node holds the lease: renewed less than one lease time ago (by this node's clock). */
  isHeld(): boolean
  /** The node holding the lease as the bucket says; undefined while nobody does. */
  holder(): Promise<string | undefined>
  /** Lease time (the bucket's max age), ms. */
  readonly leaseMs: number
  /** Stops renewing and hands the lease back when held, so another node takes it at once. */
  close(): Promise<void>
}

export async function startOfflineLease (options: OfflineLeaseOptions): Promise<OfflineLease> {
  const { kv, keys, nodeName, writer } = options
  const log = options.log.child({ module: 'offline-lease' })
  const status = await kv.status()
  const leaseMs = status.ttl
  if (!(leaseMs > 0)) {
    throw new GatewayError('CSG_NATS_MISMATCH', `KV bucket ${status.bucket} has no max age: a lease in it would never expire; delete the bucket (nats kv del ${status.bucket}) and let the gateway create it`)
  }
  const value = JSON.stringify({ node: nodeName, writer, since: new Date().toISOString() })
  /** The key's revision while this node holds it. */
  let revision: number | undefined
  /** Revision to take the lease at while nobody holds it: 0, or the hand-back's delete marker. */
  let expectedWhenFree = 0
  let validUntilMs = 0
  let isFailing = false
  let timer: NodeJS.Timeout | undefined
  let ticking: Promise<void> | undefined
  let isClosed = false

  async function renewOrTake (): Promise<void> {
    const startedAtMs = Date.now() // the key cannot expire before this plus the lease time
    let written: number | undefined
    try {
      written = await keys.compareAndSet(OFFLINE_LEASE_KEY, value, revision ?? expectedWhenFree)
    } catch (err) {
      if (!isFailing) log.warn({ err, node: nodeName, reason: 'NATS unavailable' }, 'offline check lease not renewed or taken')
      isFailing = true
      return // a held lease lapses by itself at validUntilMs
    }
    isFailing = false
    if (written !== undefined) {
      if (revision === undefined) log.info({ node: nodeName, leaseMs }, 'offline check lease taken: this node checks for silent devices')
      revision = written
      validUntilMs = startedAtMs + leaseMs
      return
    }
    // Not at the revision expected: held by another node, handed back (a delete), or this node's
    // own earlier write whose acknowledgement was lost.
    const latest = await keys.readLatest(OFFLINE_LEASE_KEY).catch(function unknown () { return undefined })
    const lease = leaseIn(latest)
    if (latest !== undefined && lease?.writer === writer) {
      revision = latest.revision
      return
    }
    expectedWhenFree = latest !== undefined && latest.value === undefined ? latest.revision : 0
    if (revision !== undefined) log.warn({ node: nodeName, holder: lease?.node, reason: 'lease taken by another node' }, 'offline check lease lost')
    revision = undefined
    validUntilMs = 0
  }

  function schedule (): void {
    if (isClosed) return
    timer = setTimeout(function tick () {
      ticking = renewOrTake().finally(schedule)
    }, Math.max(1, Math.floor(leaseMs / 3)))
    timer.unref()
  }

  ticking = renewOrTake()
  await ticking
  schedule()

  return {
    leaseMs,
    isHeld () {
      return revision !== undefined && Date.now() < validUntilMs
    },
    async holder () {
      return leaseIn(await keys.readLatest(OFFLINE_LEASE_KEY))?.node
    },
    async close () {
      isClosed = true
      clearTimeout(timer)
      await ticking
      if (revision === undefined) return
      const held = revision
      revision = undefined
      try {
        await kv.delete(OFFLINE_LEASE_KEY, { previousSeq: held })
        log.info({ node: nodeName }, 'offline check lease handed back')
      } catch (err) {
        log.warn({ err, node: nodeName, reason: isConflict(err) ? 'lease already taken' : 'NATS unavailable' }, 'offline check lease not handed back; it expires by itself')
      }
    },
  }
}

function leaseIn (latest: KeyVersion | undefined): z.infer<typeof leaseValueSchema> | undefined {
  if (latest?.value === undefined) return undefined
  try {
    return leaseValueSchema.safeParse(JSON.parse(Buffer.from(latest.value).toString('utf8'))).data
  } catch {
    return undefined // not JSON: nobody this version knows
  }
}
