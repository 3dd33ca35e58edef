// Incidents across the nodes of a cluster: the open (or last closed) incident of each district,
// device group and alarm family is one key of the csg-incidents bucket, changed only by
// compare-and-set (kv-cas.ts), so two nodes that see a storm at once make one incident. Every node
// sees every alarm change (its own and, from the alarms bucket, the others'), counts the raises of
// each group, and the node whose own raise reaches the threshold opens the incident; each node adds
// its own member alarms and marks them cleared, also a clear that came before the incident reached
// the node, and one that lost every compare-and-set try or met NATS down (retried later): a member
// never marked cleared would keep the incident open. Every node follows the bucket and publishes
// each incident to its own crews (retained while open, updates coalesced like a single node's).
// With the data key, `ackedBy` is sealed in the bucket and opened as entries are read.
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { SEVERITY_RANK } from '../../devices/define-rule.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openStoredIncident, sealStoredIncident } from '../crypto/sealed-incident.ts'
import { isGatewayError } from '../errors.ts'
import { backoffDelayMs } from '../backoff.ts'
import { formatIncidentAckTopic } from '../mqtt/topics.ts'
import type { AlarmEvent, AlarmRecord } from '../alarms/alarm.ts'
import { storedIncidentSchema, type Incident, type StoredIncident } from '../alarms/incident-record.ts'
import { incidentThreshold, type IncidentRules } from '../alarms/incident-rules.ts'
import { familyOf, INCIDENT_UPDATE_MIN_MS, publishIncident, RECENT_CLOSED, type Incidents, type IncidentsOptions } from '../alarms/incidents.ts'
import { followBucket, type BucketEntry } from './bucket-follower.ts'
import { ensureBucket } from './jetstream-setup.ts'
import { openKvKeys, type KvKeys } from './kv-cas.ts'
import { kvKeyOf } from './kv-key.ts'
import { INCIDENTS_BUCKET } from './names.ts'

/** Tries of one change: each conflict means another node changed the incident meanwhile. */
const MAX_ATTEMPTS = 10
/**
 * Wait after a lost try, with full jitter: nodes that clear their members of one incident at once
 * otherwise retry in step, and one could lose every try (a lost clear leaves the incident open).
 */
const RETRY_INITIAL_MS = 2
const RETRY_MAX_MS = 200
/** After a marking of clears lost every try: the next attempt, jittered by up to as much again. */
const CLEARS_RETRY_MS = 1000
/**
 * How long, and how many, of this node's own clears are kept: another node may have put the alarm
 * into an incident (it saw the raise, not yet the clear) that reaches this node only later.
 */
const OWN_CLEARS_KEEP_MS = 10 * 60_000
const OWN_CLEARS_MAX = 50_000
/** Bound on reading the bucket at start. */
const LOAD_TIMEOUT_MS = 20_000

export interface ClusterIncidents extends Incidents {
  /** Every alarm change this node delivered: its own (`isOwn`) and the other nodes'. */
  observe(event: AlarmEvent, isOwn: boolean): void
}

export interface ClusterIncidentsOptions extends Omit<IncidentsOptions, 'saved' | 'isAlarmOpen' | 'onChange'> {
  nc: NatsConnection
  replicas: number
  /** Seals `ackedBy` in the bucket; undefined = clear. */
  cipher?: FieldCipher | undefined
}

interface RecentRaise { readonly deviceId: string; readonly alarmId: string; readonly severity: AlarmRecord['severity']; readonly atMs: number; readonly isOwn: boolean }

interface Published {
  lastPublishMs: number
  timer: NodeJS.Timeout | undefined
  chain: Promise<void>
}

export async function startClusterIncidents (options: ClusterIncidentsOptions): Promise<ClusterIncidents> {
  const log = options.log.child({ module: 'cluster-incidents' })
  const jsm = await jetstreamManager(options.nc)
  const kv = await ensureBucket(options.nc, jsm, INCIDENTS_BUCKET, { replicas: options.replicas, history: 1 })
  const keys: KvKeys = openKvKeys(jetstream(options.nc), jsm, INCIDENTS_BUCKET)
  /** The bucket as this node last saw it, by key. */
  const mirror = new Map<string, StoredIncident>()
  /** Open incident id → its key. */
  const openIds = new Map<string, string>()
  const closed: Incident[] = []
  const recent = new Map<string, RecentRaise[]>()
  const published = new Map<string, Published>()
  /** The first entry sealed with a key this node lacks: at start that stops the node. */
  let unopenable: Error | undefined

  /** The entry opened; undefined (logged) when it is not valid or does not open. */
  function storedOf (key: string, text: string): StoredIncident | undefined {
    let stored: StoredIncident
    try {
      stored = storedIncidentSchema.parse(JSON.parse(text))
    } catch (err) {
      log.warn({ err, key }, 'incident entry not readable; ignored')
      return undefined
    }
    try {
      return openStoredIncident(stored, options.cipher)
    } catch (err) {
      // A key this node lacks is its key file's fault (it stops the start); an altered entry is that entry's.
      if (isGatewayError(err, 'CSG_DATA_KEY_MISSING')) {
        unopenable ??= err
        log.error({ err, key }, 'incident in the bucket sealed with a key this node\'s DATA_KEY_FILE lacks (every node needs the same key file); ignored')
      } else {
        log.error({ err, key }, 'incident in the bucket does not open (altered); ignored')
      }
      return undefined
    }
  }

  function keyOf (district: string, group: string, type: string): string {
    return `${kvKeyOf(district)}.${kvKeyOf(group)}.${familyOf(type)}`
  }

  function openAt (key: string): StoredIncident | undefined {
    const stored = mirror.get(key)
    return stored !== undefined && stored.incident.state !== 'closed' ? stored : undefined
  }

  /** To this node's crews: the first version at once, later ones at most every INCIDENT_UPDATE_MIN_MS, a closing one at once. */
  function publish (key: string): void {
    const stored = mirror.get(key)
    if (stored === undefined) return
    const id = stored.incident.id
    let state = published.get(id)
    if (state === undefined) {
      state = { lastPublishMs: 0, timer: undefined, chain: Promise.resolve() }
      published.set(id, state)
    }
    const entry = state
    function send (): void {
      clearTimeout(entry.timer)
      entry.timer = undefined
      entry.lastPublishMs = Date.now()
      const record = mirror.get(key)?.incident
      if (record === undefined || record.id !== id) return
      entry.chain = entry.chain.then(function sendIncident () { return publishIncident(options.out, record) }).catch(function notPublished (err: unknown) {
        log.error({ err, incidentId: id }, 'incident not published over MQTT')
      })
    }
    if (stored.incident.state === 'closed') {
      send()
      return
    }
    if (entry.timer !== undefined) return
    const waitMs = entry.lastPublishMs + INCIDENT_UPDATE_MIN_MS - Date.now()
    if (waitMs <= 0) send()
    else {
      entry.timer = setTimeout(send, waitMs)
      entry.timer.unref()
    }
  }

  function onEntry (entry: BucketEntry): void {
    if (entry.operation !== 'PUT') {
      mirror.delete(entry.key)
      return
    }
    const stored = storedOf(entry.key, entry.string())
    if (stored === undefined) return
    const before = mirror.get(entry.key)
    mirror.set(entry.key, stored)
    if (before !== undefined && before.incident.id !== stored.incident.id) openIds.delete(before.incident.id)
    if (stored.incident.state === 'closed') {
      openIds.delete(stored.incident.id)
      if (!closed.some(function same (i) { return i.id === stored.incident.id })) {
        closed.unshift(stored.incident)
        if (closed.length > RECENT_CLOSED) closed.pop()
        // A closed incident the node only loaded at start was closed long ago: nothing to send.
        if (before !== undefined) publish(entry.key)
      }
      return
    }
    openIds.set(stored.incident.id, entry.key)
    publish(entry.key)
    joinOwnRaises(entry.key, stored)
    queueOwnClears(entry.key)
  }

  /** Alarm ids this node asked to add to an incident. */
  const joining = new Set<string>()
  /**
   * This node's raises of the storm that the node which opened the incident had not seen yet (they
   * were on their way through the alarms bucket) join it now: every member is in, whichever node made it.
   */
  function joinOwnRaises (key: string, stored: StoredIncident): void {
    const members = new Set(stored.incident.members.map(function idOf (m) { return m.alarmId }))
    const missing = (recent.get(key) ?? []).filter(function ownOutside (r) { return r.isOwn && !members.has(r.alarmId) && !joining.has(r.alarmId) })
    if (missing.length === 0) return
    for (const r of missing) joining.add(r.alarmId)
    const id = stored.incident.id
    ownChain = ownChain.then(async function join () {
      const { isContended } = await change(key, function withMissing (current) {
        if (current?.incident.id !== id || current.incident.state === 'closed') return undefined
        let next: StoredIncident | undefined
        for (const r of missing) next = withMember(next ?? current, { id: r.alarmId, deviceId: r.deviceId, severity: r.severity }, Date.now()) ?? next
        return next
      })
      // Joined, or not to join any more; a lost join is tried again with the incident's next entry.
      if (isContended) for (const r of missing) joining.delete(r.alarmId)
    }).catch(function notJoined (err: unknown) {
      for (const r of missing) joining.delete(r.alarmId)
      log.error({ err, incidentId: id }, 'incident not changed')
    })
  }

  /**
   * Changes one incident key by compare-and-set; `mutate` returns undefined to leave it. The written
   * entry, if any; `isContended` when every try lost to another node's change.
   */
  async function change (key: string, mutate: (current: StoredIncident | undefined) => StoredIncident | undefined): Promise<{ written: StoredIncident | undefined, isContended: boolean }> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const latest = await keys.readLatest(key)
      let current: StoredIncident | undefined
      if (latest?.value !== undefined) current = storedOf(key, Buffer.from(latest.value).toString('utf8'))
      const next = mutate(current)
      if (next === undefined) return { written: undefined, isContended: false }
      const text = JSON.stringify(sealStoredIncident(next, options.cipher))
      const revision = await keys.compareAndSet(key, text, latest?.revision ?? 0)
      if (revision !== undefined) {
        onEntry({ key, operation: 'PUT', revision, string () { return text } })
        return { written: next, isContended: false }
      }
      if (attempt < MAX_ATTEMPTS) await sleep(backoffDelayMs(attempt, RETRY_INITIAL_MS, RETRY_MAX_MS))
    }
    log.warn({ key, attempts: MAX_ATTEMPTS }, 'incident not changed: other nodes kept changing it')
    return { written: undefined, isContended: true }
  }

  function withMember (stored: StoredIncident, alarm: Pick<AlarmRecord, 'id' | 'deviceId' | 'severity'>, nowMs: number): StoredIncident | undefined {
    if (stored.incident.members.some(function same (m) { return m.alarmId === alarm.id })) return undefined
    const { ackedBy: _ackedBy, ...rest } = stored.incident
    const severity = SEVERITY_RANK[alarm.severity] > SEVERITY_RANK[rest.severity] ? alarm.severity : rest.severity
    // A new member wants attention again.
    return { cleared: stored.cleared, incident: { ...rest, severity, state: 'open', members: [...rest.members, { deviceId: alarm.deviceId, alarmId: alarm.id }], updatedAt: new Date(nowMs).toISOString() } }
  }

  function noteRaise (key: string, alarm: AlarmRecord, isOwn: boolean, windowMs: number, nowMs: number): RecentRaise[] {
    const raises = (recent.get(key) ?? []).filter(function inWindow (r) { return r.atMs >= nowMs - windowMs })
    // Each alarm counts once, from when this node first learnt of it.
    if (!raises.some(function same (r) { return r.alarmId === alarm.id })) raises.push({ deviceId: alarm.deviceId, alarmId: alarm.id, severity: alarm.severity, atMs: nowMs, isOwn })
    recent.set(key, raises)
    return raises
  }

  async function onOwnRaise (key: string, group: string, alarm: AlarmRecord, raises: readonly RecentRaise[], rules: IncidentRules, nowMs: number): Promise<void> {
    const devices = new Set(raises.map(function deviceOf (r) { return r.deviceId }))
    const isStorm = rules.enabled && devices.size >= incidentThreshold(rules, options.groupSize(group))
    if (openAt(key) === undefined && !isStorm) return
    let opened: Incident | undefined
    const { written } = await change(key, function openOrJoin (current) {
      opened = undefined
      if (current !== undefined && current.incident.state !== 'closed') return withMember(current, alarm, nowMs)
      if (!isStorm) return undefined
      const at = new Date(nowMs).toISOString()
      let severity = alarm.severity
      for (const r of raises) if (SEVERITY_RANK[r.severity] > SEVERITY_RANK[severity]) severity = r.severity
      opened = { id: randomUUID(), type: familyOf(alarm.type), group, district: alarm.district, severity, members: raises.map(function memberOf (r) { return { deviceId: r.deviceId, alarmId: r.alarmId } }), openedAt: at, updatedAt: at, state: 'open' }
      return { incident: opened, cleared: [] }
    })
    if (written === undefined) return
    if (opened !== undefined) {
      log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, incidentId: opened.id, group, district: alarm.district, type: opened.type, members: opened.members.length, reason: 'threshold_reached' }, 'incident opened')
      options.mail?.({ kind: 'incident', incident: { ...opened, ackTopic: formatIncidentAckTopic(opened) } })
    } else {
      log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, incidentId: written.incident.id, members: written.incident.members.length, reason: 'joined' }, 'alarm joined an incident')
    }
  }

  /** This node's own clears, alarm id → when (oldest first). */
  const ownClears = new Map<string, number>()
  /** Keys whose marking of clears is queued on ownChain and has not started yet. */
  const clearsQueued = new Set<string>()
  /** Keys whose marking lost every try, to be marked again. */
  const clearsToRetry = new Set<string>()
  /** Keys whose last marking failed with an error, logged once until one succeeds. */
  const failingKeys = new Set<string>()
  let clearsRetryTimer: NodeJS.Timeout | undefined
  let isClosing = false

  function noteOwnClear (alarmId: string, nowMs: number): void {
    ownClears.set(alarmId, nowMs)
    for (const [id, atMs] of ownClears) {
      if (atMs >= nowMs - OWN_CLEARS_KEEP_MS && ownClears.size <= OWN_CLEARS_MAX) break
      ownClears.delete(id)
    }
  }

  /** Members of an incident this node cleared that the entry does not have as cleared yet. */
  function unmarkedOwnClears (stored: StoredIncident): string[] {
    const marked = new Set(stored.cleared)
    return stored.incident.members
      .filter(function clearedHere (m) { return ownClears.has(m.alarmId) && !marked.has(m.alarmId) })
      .map(function idOf (m) { return m.alarmId })
  }

  /** Queues one marking of this node's clears in the open incident at `key`, when it has any unmarked. */
  function queueOwnClears (key: string): void {
    // Every incident entry comes through here; most nodes hold no recent clears of their own.
    if (isClosing || ownClears.size === 0 || clearsQueued.has(key)) return
    const stored = openAt(key)
    if (stored === undefined || unmarkedOwnClears(stored).length === 0) return
    clearsQueued.add(key)
    ownChain = ownChain.then(async function markClears () {
      await markOwnClears(key)
      failingKeys.delete(key)
    }).catch(function notChanged (err: unknown) {
      // Once per streak of failures (NATS unavailable): the retries go on quietly.
      if (!failingKeys.has(key)) log.error({ err, incidentId: mirror.get(key)?.incident.id }, 'incident not changed; its cleared members are marked again shortly')
      failingKeys.add(key)
      retryOwnClearsLater(key)
    })
  }

  /** Marks every own clear of the incident at `key` in one change; closes it when no member is left open. */
  async function markOwnClears (key: string): Promise<void> {
    // Clears noted from here on queue another marking.
    clearsQueued.delete(key)
    let marked: string[] = []
    const { written, isContended } = await change(key, function markCleared (current) {
      if (current === undefined || current.incident.state === 'closed') return undefined
      marked = unmarkedOwnClears(current)
      if (marked.length === 0) return undefined
      const cleared = [...current.cleared, ...marked]
      const clearedIds = new Set(cleared)
      const isDone = current.incident.members.every(function gone (m) { return clearedIds.has(m.alarmId) })
      const at = new Date().toISOString()
      return { cleared, incident: isDone ? { ...current.incident, state: 'closed', closedAt: at, updatedAt: at } : current.incident }
    })
    if (isContended) retryOwnClearsLater(key)
    if (written?.incident.state === 'closed') {
      const last = written.incident.members.find(function markedNow (m) { return m.alarmId === marked.at(-1) })
      log.info({ deviceId: last?.deviceId, alarmId: last?.alarmId, incidentId: written.incident.id, members: written.incident.members.length, reason: 'members_cleared' }, 'incident closed')
    }
  }

  function retryOwnClearsLater (key: string): void {
    clearsToRetry.add(key)
    if (clearsRetryTimer !== undefined || isClosing) return
    clearsRetryTimer = setTimeout(function retryClears () {
      clearsRetryTimer = undefined
      const retried = [...clearsToRetry]
      clearsToRetry.clear()
      for (const retriedKey of retried) queueOwnClears(retriedKey)
    }, CLEARS_RETRY_MS + Math.random() * CLEARS_RETRY_MS)
    clearsRetryTimer.unref()
  }

  const follower = followBucket({ kv, jsm, name: INCIDENTS_BUCKET }, onEntry, log)
  if (!await follower.loaded(LOAD_TIMEOUT_MS)) log.warn({ bucket: INCIDENTS_BUCKET, timeoutMs: LOAD_TIMEOUT_MS }, 'incidents bucket not read in time; following it on')
  // A node that cannot open the cluster's incidents would show crews who acknowledged none of them: it does not start.
  if (unopenable !== undefined) {
    follower.stop()
    throw unopenable
  }
  /** Changes of this node's own alarms, in order: a clear never overtakes the raise it clears. */
  let ownChain: Promise<void> = Promise.resolve()

  return {
    classify (events) {
      // Only the stamp is decided before delivery: a raise joining an incident this node knows is open.
      for (const event of events) {
        if (event.change !== 'raised' || event.alarm.maintenance !== undefined) continue
        const group = options.groupOf(event.alarm.deviceId)
        if (group === undefined) continue
        const open = openAt(keyOf(event.alarm.district, group, event.alarm.type))
        if (open !== undefined) event.alarm.incident = open.incident.id
      }
    },
    observe (event, isOwn) {
      const { alarm } = event
      const nowMs = Date.now()
      // Another node's raise may reach this node first as a later change (the alarms bucket keeps one version per alarm).
      const isRaise = event.change === 'raised' || (!isOwn && alarm.state !== 'cleared' && event.change !== 'cleared')
      if (isRaise && alarm.maintenance === undefined) {
        const group = options.groupOf(alarm.deviceId)
        if (group === undefined) return
        const key = keyOf(alarm.district, group, alarm.type)
        const rules = options.rules()
        const raises = noteRaise(key, alarm, isOwn, rules.windowMs, nowMs)
        if (!isOwn) return
        ownChain = ownChain.then(function openOrJoin () { return onOwnRaise(key, group, alarm, raises, rules, nowMs) })
          .catch(function notChanged (err: unknown) { log.error({ err, deviceId: alarm.deviceId, alarmId: alarm.id }, 'incident not changed') })
      } else if (event.change === 'cleared') {
        // A raise that cleared before any incident took it in is no storm member any more.
        for (const [key, raises] of recent) {
          const left = raises.filter(function notCleared (r) { return r.alarmId !== alarm.id })
          if (left.length === 0) recent.delete(key)
          else if (left.length !== raises.length) recent.set(key, left)
        }
        if (!isOwn) return
        noteOwnClear(alarm.id, nowMs)
        for (const key of openIds.values()) queueOwnClears(key)
      }
    },
    shouldPush (event) {
      return event.alarm.incident === undefined
    },
    async acknowledge (crew, districts, incidentId, note, nowMs) {
      const key = openIds.get(incidentId)
      const stored = key === undefined ? undefined : mirror.get(key)
      if (key === undefined || stored === undefined) {
        const done = closed.find(function byIncidentId (i) { return i.id === incidentId })
        if (done !== undefined && (districts === undefined || districts.includes(done.district))) return { ok: false, reason: 'closed' }
        return { ok: false, reason: 'not_found' }
      }
      if (districts !== undefined && !districts.includes(stored.incident.district)) return { ok: false, reason: 'forbidden' }
      const members = stored.incident.members.filter(function stillOpen (m) { return !stored.cleared.includes(m.alarmId) })
      const outcomes = await Promise.all(members.map(function ackMember (m) {
        return options.acknowledgeMember(crew, { id: m.alarmId, deviceId: m.deviceId, type: stored.incident.type } as AlarmRecord, note)
      }))
      const { written } = await change(key, function acknowledged (current) {
        if (current?.incident.id !== incidentId || current.incident.state === 'closed') return undefined
        return { cleared: current.cleared, incident: { ...current.incident, state: 'acknowledged', ackedBy: crew, updatedAt: new Date(nowMs).toISOString() } }
      })
      log.info({ deviceId: members[0]?.deviceId, incidentId, acknowledgedMembers: outcomes.filter(Boolean).length, reason: 'crew_ack' }, 'incident acknowledged')
      const record = written?.incident ?? mirror.get(key)?.incident ?? stored.incident
      if (record.state === 'closed') return { ok: false, reason: 'closed' }
      return { ok: true, incident: record }
    },
    list () {
      const open = [...openIds.values()].flatMap(function recordOf (key) { const s = mirror.get(key); return s === undefined ? [] : [s.incident] })
      return [...open, ...closed]
    },
    snapshot () {
      // The bucket keeps them: nothing for DATA_DIR.
      return { version: 1, open: [], closed: [] }
    },
    restoreRetained () {
      // Every open incident was published as the bucket was read.
      return Promise.resolve()
    },
    async close () {
      isClosing = true
      clearTimeout(clearsRetryTimer)
      follower.stop()
      await ownChain
      for (const state of published.values()) clearTimeout(state.timer)
      await Promise.all([...published.values()].map(function sent (s) { return s.chain }))
    },
  }
}
