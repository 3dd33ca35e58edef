// The alarms bucket between the nodes of a cluster. A node's change is written by compare-and-set
// on the alarm's key at the revision last seen (kv-cas.ts); when another node's write came first,
// the change is merged over the new version and tried again, or dropped (alarm-entry.ts). Every
// node watches the bucket.
//
// Order of one change: the KV write (replicated) comes first; the winning node then hands its
// change on (its `alarms` point, its crews, its webhooks) and every other node hands it on from
// the watch (its crews only). Changes of one alarm are handed on in revision order; one that
// arrives after a newer revision of its alarm went out is marked superseded (no crew needs it, but
// the winner still records it). A node that dies between its write and handing on loses that
// change's point and webhooks; the other nodes' crews get it all the same.
//
// The local engine applies its own changes at once (it must go on evaluating) and takes the
// bucket's version of an alarm (onSettled) once none of its own changes to that alarm is in flight.
import { setTimeout as sleep } from 'node:timers/promises'
import type { KV, KvEntry } from '@nats-io/kv'
import { GatewayError, isGatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { AlarmEvent } from '../alarms/alarm.ts'
import { alarmKey, mergeChange, parseAlarmKey, storedAlarmSchema, type StoredAlarm } from './alarm-entry.ts'
import type { KvKeys } from './kv-cas.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openOpenAlarm, sealOpenAlarm } from '../crypto/sealed-alarm.ts'

export interface AlarmSyncOptions {
  /** The alarms bucket: watched through it. */
  kv: KV
  /** Its keys written and read one at a time (kv-cas.ts). */
  keys: KvKeys
  /** This run of this node (`<NODE_NAME>#<random>`), written with each of its changes. */
  writer: string
  log: Logger
  /** A change for crews: this node's (won its compare-and-set) or another node's (seen on the watch). */
  onChange(event: AlarmEvent, origin: { isOwn: boolean, isSuperseded: boolean }): void
  /** The bucket's version of an alarm once no change of this node to it is in flight (undefined: none). */
  onSettled(deviceId: string, type: string, stored: StoredAlarm | undefined): void
  /** Seals who acknowledged and the note in the bucket; every node must hold the same key file. */
  cipher?: FieldCipher | undefined
  /** Bound on reading the bucket at start, ms. Default 20000. */
  loadTimeoutMs?: number
}

export type ProposalOutcome =
  | { ok: true, event: AlarmEvent }
  | { ok: false, reason: 'superseded' | 'already_acknowledged' | 'not_found' | 'unavailable' }

export interface AlarmSync {
  /** Reads every alarm in the bucket (open and cleared) and goes on watching it. */
  load(): Promise<StoredAlarm[]>
  /** From now on other nodes' changes are handed on (until then they wait on the watch). */
  follow(): void
  /** Writes a change of the local engine; resolves once written or given up, and the engine settled. */
  propose(event: AlarmEvent): Promise<ProposalOutcome>
  /** Waits for changes in flight, then stops watching. */
  close(): Promise<void>
}

/** Tries per change: each conflict means another node changed the alarm meanwhile. */
const MAX_ATTEMPTS = 5
/** Pause before watching again after the watch ended (NATS trouble), ms. */
const REWATCH_MS = 1000

interface Known {
  revision: number
  /** Undefined for a deleted key or a value this version cannot read. */
  stored: StoredAlarm | undefined
}

export function createAlarmSync (options: AlarmSyncOptions): AlarmSync {
  const { kv, writer } = options
  const log = options.log.child({ module: 'alarm-sync' })
  /** The newest version of each key this node knows of (from the watch or its own writes). */
  const known = new Map<string, Known>()
  /** The newest revision of each key handed on to crews. */
  const handed = new Map<string, number>()
  /** The newest own revision of each key handed on (recorded): the watch brings it once more. */
  const ownHanded = new Map<string, number>()
  /** Own changes queued or in flight per key; their chain keeps them in order. */
  const pending = new Map<string, number>()
  const chains = new Map<string, Promise<unknown>>()
  let watchedRevision = 0
  let isFollowing = false
  let isClosing = false
  let releaseFollow: () => void = function notYet () { /* set below */ }
  const followGate = new Promise<void>(function gate (resolve) { releaseFollow = resolve })
  let watcher: { stop(): void } | undefined
  let watching: Promise<void> | undefined
  const closing = new AbortController()
  let onWatched: (() => void) | undefined
  /** The first entry sealed with a key this node lacks: at start that stops the node. */
  let unopenable: Error | undefined
  /** Writes are failing: every reading of an alarming device tries again, logged once per outage. */
  let isUnwritable = false

  function unwritable (detail: Record<string, unknown>, message: string): ProposalOutcome {
    if (isUnwritable) log.debug(detail, message)
    else log.warn(detail, `${message} (further failures until the bucket is writable again are logged at debug)`)
    isUnwritable = true
    return { ok: false, reason: 'unavailable' }
  }

  function written (): void {
    if (isUnwritable) log.info('alarm bucket writable again')
    isUnwritable = false
  }

  function remember (key: string, revision: number, stored: StoredAlarm | undefined): void {
    const before = known.get(key)
    if (before === undefined || revision > before.revision) known.set(key, { revision, stored })
  }

  function storedOf (key: string, revision: number, value: Uint8Array | undefined): StoredAlarm | undefined {
    if (value === undefined) return undefined
    try {
      const parsed = storedAlarmSchema.safeParse(JSON.parse(Buffer.from(value).toString('utf8')))
      if (parsed.success) return openStored(key, revision, parsed.data)
      log.error({ key, revision, reason: parsed.error.issues[0]?.message }, 'alarm in the bucket not readable; ignored')
    } catch (err) {
      log.error({ key, revision, err, reason: 'not JSON' }, 'alarm in the bucket not readable; ignored')
    }
    return undefined
  }

  function openStored (key: string, revision: number, stored: StoredAlarm): StoredAlarm | undefined {
    if (options.cipher === undefined) return stored
    try {
      return openOpenAlarm(stored, options.cipher)
    } catch (err) {
      // A key this node lacks is its key file's fault (it stops the start); an altered entry is that entry's.
      if (isGatewayError(err, 'CSG_DATA_KEY_MISSING')) {
        unopenable ??= err
        log.error({ err, key, revision }, 'alarm in the bucket sealed with a key this node\'s DATA_KEY_FILE lacks (every node needs the same key file); ignored')
      } else {
        log.error({ err, key, revision }, 'alarm in the bucket does not open (altered); ignored')
      }
      return undefined
    }
  }

  /** Passes a version on once: another node's only while newer than what crews got; an own one always (it is recorded). */
  function hand (key: string, revision: number, stored: StoredAlarm): void {
    const isOwn = stored.writer === writer
    if (isOwn) {
      if (revision <= (ownHanded.get(key) ?? 0)) return
      ownHanded.set(key, revision)
    }
    const isSuperseded = revision <= (handed.get(key) ?? 0)
    if (isSuperseded && !isOwn) return
    if (!isSuperseded) handed.set(key, revision)
    options.onChange({ change: stored.change, alarm: stored.alarm }, { isOwn, isSuperseded })
  }

  function settle (key: string, deviceId: string, type: string): void {
    options.onSettled(deviceId, type, known.get(key)?.stored)
  }

  function onEntry (entry: KvEntry): void {
    watchedRevision = Math.max(watchedRevision, entry.revision)
    const stored = storedOf(entry.key, entry.revision, entry.operation === 'PUT' ? entry.value : undefined)
    remember(entry.key, entry.revision, stored)
    if (!isFollowing) {
      handed.set(entry.key, Math.max(handed.get(entry.key) ?? 0, entry.revision))
      return
    }
    // An own write comes here too: whichever of the watch and its acknowledgement comes first hands it
    // on (an acknowledgement lost in a timeout does not lose the change's point).
    if (stored !== undefined) hand(entry.key, entry.revision, stored)
    if ((pending.get(entry.key) ?? 0) > 0) return
    const ids = stored?.alarm ?? parseAlarmKey(entry.key)
    if (ids !== undefined) settle(entry.key, ids.deviceId, ids.type)
  }

  async function watchBucket (): Promise<void> {
    let failures = 0
    while (!isClosing) {
      let failure: unknown = 'the watch ended'
      try {
        const iterator = await kv.watch(watchedRevision === 0 ? {} : { resumeFromRevision: watchedRevision + 1 })
        watcher = iterator
        if (isClosing) iterator.stop()
        for await (const entry of iterator) {
          failures = 0
          if (!isFollowing && onWatched === undefined) await followGate // loaded: later changes wait for follow()
          onEntry(entry)
          onWatched?.()
        }
      } catch (err) {
        failure = err
      }
      if (isClosing) break
      // Once per outage: while NATS is away every attempt fails the same way.
      if (failures++ === 0) log.warn({ err: failure, fromRevision: watchedRevision + 1, reason: 'watch ended' }, 'alarm bucket watch ended; watching again')
      await sleep(REWATCH_MS, undefined, { signal: closing.signal }).catch(function closed () { /* closing */ })
    }
  }

  /** Learns the key's latest version (never forgets a newer one the watch brought meanwhile). */
  async function refresh (key: string): Promise<void> {
    const latest = await options.keys.readLatest(key)
    if (latest !== undefined) remember(key, latest.revision, storedOf(key, latest.revision, latest.value))
  }

  async function attempt (key: string, event: AlarmEvent): Promise<ProposalOutcome> {
    const { deviceId, type, id: alarmId } = event.alarm
    for (let tries = 1; ; tries++) {
      if (isClosing && tries > 1) return { ok: false, reason: 'unavailable' }
      const current = known.get(key)
      const merged = mergeChange(event, current?.stored)
      if (!merged.write) {
        log.debug({ deviceId, type, alarmId, change: event.change, reason: merged.reason, tries }, 'alarm change not applied: the bucket has another version')
        return { ok: false, reason: merged.reason }
      }
      const stored: StoredAlarm = { ...merged.entry, change: merged.event.change, writer }
      let failure: unknown
      try {
        const sealed = options.cipher === undefined ? stored : sealOpenAlarm(stored, options.cipher)
        const revision = await options.keys.compareAndSet(key, JSON.stringify(sealed), current?.revision ?? 0)
        if (revision !== undefined) {
          written()
          remember(key, revision, stored)
          hand(key, revision, stored)
          return { ok: true, event: merged.event }
        }
      } catch (err) {
        failure = err
      }
      try {
        await refresh(key)
      } catch (err) {
        return unwritable({ err, deviceId, type, alarmId, change: event.change, reason: 'NATS unavailable' }, 'alarm change not stored')
      }
      const now = known.get(key)
      if (now?.stored !== undefined && isSameWrite(now.stored, stored)) {
        // The write landed; only its acknowledgement was lost (a timeout, or a retry seen as a duplicate).
        written()
        hand(key, now.revision, now.stored)
        return { ok: true, event: merged.event }
      }
      if (tries >= MAX_ATTEMPTS) {
        if (failure !== undefined) return unwritable({ err: failure, deviceId, type, alarmId, change: event.change, tries, reason: 'NATS errors' }, 'alarm change not stored')
        log.warn({ deviceId, type, alarmId, change: event.change, tries, reason: 'conflicts' }, 'alarm change not stored: the alarm kept changing under it')
        return { ok: false, reason: 'unavailable' }
      }
      if (failure !== undefined) log.warn({ err: failure, deviceId, type, alarmId, change: event.change, reason: 'write failed' }, 'alarm change not stored yet; trying again')
    }
  }

  return {
    async load () {
      const loadTimeoutMs = options.loadTimeoutMs ?? 20_000
      const status = await kv.status()
      const lastRevision = status.streamInfo.state.last_seq
      const loaded = new Promise<void>(function whenLoaded (resolve, reject) {
        const timer = setTimeout(function tooSlow () {
          onWatched = undefined
          reject(new GatewayError('CSG_NATS_UNREACHABLE', `KV bucket ${status.bucket}: not read to revision ${lastRevision} within ${loadTimeoutMs} ms (at ${watchedRevision})`))
        }, loadTimeoutMs)
        function check (): void {
          if (watchedRevision < lastRevision) return
          clearTimeout(timer)
          onWatched = undefined
          resolve()
        }
        onWatched = check
        if (lastRevision === 0) check()
      })
      watching = watchBucket()
      try {
        await loaded
        // A node that cannot open the cluster's alarms would hand crews half of them: it does not start.
        if (unopenable !== undefined) throw unopenable
      } catch (err) {
        isClosing = true
        closing.abort()
        watcher?.stop()
        releaseFollow()
        await watching
        throw err
      }
      return [...known.values()].flatMap(function readable (entry) { return entry.stored === undefined ? [] : [entry.stored] })
    },

    follow () {
      isFollowing = true
      releaseFollow()
    },

    propose (event) {
      const key = alarmKey(event.alarm.deviceId, event.alarm.type)
      if (isClosing) return Promise.resolve({ ok: false, reason: 'unavailable' })
      pending.set(key, (pending.get(key) ?? 0) + 1)
      const outcome = (chains.get(key) ?? Promise.resolve())
        .then(function tryChange () { return attempt(key, event) })
        .catch(function unexpected (err: unknown): ProposalOutcome {
          log.error({ err, deviceId: event.alarm.deviceId, type: event.alarm.type, reason: 'unexpected' }, 'alarm change failed')
          return { ok: false, reason: 'unavailable' }
        })
        .then(function settled (result) {
          const left = (pending.get(key) ?? 1) - 1
          if (left > 0) {
            pending.set(key, left)
          } else {
            pending.delete(key)
            settle(key, event.alarm.deviceId, event.alarm.type)
          }
          return result
        })
      chains.set(key, outcome)
      void outcome.finally(function forgetDone () { if (chains.get(key) === outcome) chains.delete(key) })
      return outcome
    },

    async close () {
      while (chains.size > 0) await Promise.all(chains.values())
      isClosing = true
      closing.abort()
      watcher?.stop()
      releaseFollow()
      await watching
    },
  }
}

function isSameWrite (a: StoredAlarm, b: StoredAlarm): boolean {
  return a.writer === b.writer && a.change === b.change && a.alarm.id === b.alarm.id && a.alarm.state === b.alarm.state && a.alarm.updatedAt === b.alarm.updatedAt
}
