// The alarm stage's cluster side: the alarms bucket (alarm-sync.ts), the offline check lease
// (offline-lease.ts) and shared last-seen (seen-digest.ts), wired to this node's engine and
// publisher. Rule progress (held durations, rates) stays in the engine of the node the device is
// connected to; only open alarms and last-seen times are shared.
import { randomBytes } from 'node:crypto'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { DEVICE_OFFLINE } from '../../devices/define-rule.ts'
import type { Logger } from '../log.ts'
import type { AlarmDevice, AlarmEvent, AlarmRecord } from '../alarms/alarm.ts'
import type { AlarmEngine } from '../alarms/engine.ts'
import type { AlarmPublisher } from '../alarms/publisher.ts'
import type { StoredAlarm } from './alarm-entry.ts'
import { createAlarmSync, type ProposalOutcome } from './alarm-sync.ts'
import { ensureBucket } from './jetstream-setup.ts'
import { openKvKeys } from './kv-cas.ts'
import { ALARMS_BUCKET, LEASES_BUCKET } from './names.ts'
import { startOfflineLease } from './offline-lease.ts'
import { createSeenDigest } from './seen-digest.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'

/** What startAlarms needs to run as one node of a cluster. */
export interface AlarmClusterOptions {
  nc: NatsConnection
  /** Replicas of the alarms and leases buckets (NATS_REPLICAS, or replicasFor()). */
  replicas: number
  /** NODE_NAME: written with each change, named as the offline check's holder. */
  nodeName: string
  /** The registry's view of a device another node heard from; undefined: not known here (skipped). */
  deviceOf(deviceId: string): AlarmDevice | undefined
}

export interface AlarmClusterStart extends AlarmClusterOptions {
  engine: AlarmEngine
  publisher: AlarmPublisher
  log: Logger
  /** The offline check interval: period of the digests; max age of a new leases bucket. */
  offlineCheckMs: number
  /** Seals personal fields of the alarms in the bucket. */
  cipher?: FieldCipher | undefined
}

export interface AlarmCluster {
  /** Cleared alarms the bucket held at start (their last state), for the console's recent list. */
  readonly cleared: readonly AlarmRecord[]
  /** Writes one change of the engine to the bucket (see alarm-sync.ts). */
  propose(event: AlarmEvent): Promise<ProposalOutcome>
  /** Notes a device this node heard from (shared with the next digest). */
  heard(deviceId: string): void
  /** Every check interval: shares last-seen, and returns the offline check's raises if this node holds the lease. */
  tick(nowMs: number): AlarmEvent[]
  holdsOfflineCheck(): boolean
  offlineCheckHolder(): Promise<string | undefined>
  close(): Promise<void>
}

export async function startAlarmCluster (options: AlarmClusterStart): Promise<AlarmCluster> {
  const { nc, replicas, nodeName, engine, publisher, offlineCheckMs } = options
  const log = options.log.child({ module: 'alarm-cluster', node: nodeName })
  const writer = `${nodeName}#${randomBytes(4).toString('hex')}`
  const jsm = await jetstreamManager(nc)
  const alarmsKv = await ensureBucket(nc, jsm, ALARMS_BUCKET, { replicas, history: 1 })
  const leasesKv = await ensureBucket(nc, jsm, LEASES_BUCKET, { replicas, history: 1, ttl: offlineCheckMs })
  // A device's last-seen reaches the lease holder up to one digest period (plus transit) late.
  const slackMs = 2 * offlineCheckMs
  /** When this node last heard from each device itself. */
  const heardHere = new Map<string, number>()

  function propose (event: AlarmEvent): Promise<ProposalOutcome> {
    return sync.propose(event)
  }

  /**
   * The lease holder may raise deviceOffline for a device that reported here while this node's
   * digest was on its way: clearing it is this node's job, as the device reports here.
   */
  function clearIfHeardHere (stored: StoredAlarm): void {
    const { alarm } = stored
    if (alarm.type !== DEVICE_OFFLINE.type || stored.change !== 'raised' || stored.writer === writer) return
    const heardAtMs = heardHere.get(alarm.deviceId)
    if (heardAtMs === undefined || heardAtMs < Date.parse(alarm.raisedAt) - slackMs) return
    const device = options.deviceOf(alarm.deviceId) ?? { id: alarm.deviceId, kind: alarm.kind, district: alarm.district, location: alarm.location }
    log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, reason: 'heard here while the digest was in transit' }, 'deviceOffline raised elsewhere for a device reporting here; clearing it')
    for (const event of engine.evaluate(device, [], Date.now())) void propose(event)
  }

  const js = jetstream(nc)
  const sync = createAlarmSync({
    kv: alarmsKv,
    keys: openKvKeys(js, jsm, ALARMS_BUCKET),
    writer,
    log,
    cipher: options.cipher,
    onChange (event, origin) {
      publisher.deliver([event], origin)
    },
    onSettled (deviceId, type, stored) {
      engine.adopt(deviceId, type, stored)
      if (stored !== undefined && stored.alarm.state === 'active') clearIfHeardHere(stored)
    },
  })

  const stored = await sync.load()
  const cleared: AlarmRecord[] = []
  const open: AlarmRecord[] = []
  for (const entry of stored) {
    engine.adopt(entry.alarm.deviceId, entry.alarm.type, entry)
    if (entry.alarm.state === 'cleared') cleared.push(entry.alarm)
    else open.push(entry.alarm)
  }
  cleared.sort(function newestFirst (a, b) { return (b.clearedAt ?? b.updatedAt).localeCompare(a.clearedAt ?? a.updatedAt) })
  await publisher.restoreRetained(open)
  sync.follow()
  log.info({ open: open.length, cleared: cleared.length, bucket: ALARMS_BUCKET }, 'alarms loaded from the cluster')

  let lease: Awaited<ReturnType<typeof startOfflineLease>>
  try {
    lease = await startOfflineLease({ kv: leasesKv, keys: openKvKeys(js, jsm, LEASES_BUCKET, { messageIds: false }), nodeName, writer, log })
  } catch (err) {
    await sync.close()
    throw err
  }
  if (lease.leaseMs !== offlineCheckMs) log.info({ leaseMs: lease.leaseMs, offlineCheckMs, bucket: LEASES_BUCKET }, 'offline check lease time is the leases bucket\'s max age, not this node\'s check interval')

  const digest = createSeenDigest({
    nc,
    writer,
    log,
    onSeen (deviceIds, atMs) {
      for (const id of deviceIds) {
        const device = options.deviceOf(id)
        if (device !== undefined) engine.markSeen(device, atMs)
      }
    },
  })

  return {
    cleared,
    propose,
    heard (deviceId) {
      heardHere.set(deviceId, Date.now())
      digest.heard(deviceId)
    },
    tick (nowMs) {
      digest.publish()
      return lease.isHeld() ? engine.checkOffline(nowMs, slackMs) : []
    },
    holdsOfflineCheck () { return lease.isHeld() },
    offlineCheckHolder () { return lease.holder() },
    async close () {
      await lease.close()
      await sync.close()
      await digest.close()
    },
  }
}
