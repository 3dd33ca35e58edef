// The alarm stage assembled: rules (defaults + rules file), engine, persisted state, publisher,
// webhooks and the offline timer. main.ts hands it accepted readings and crew acknowledgements.
// With `cluster`, open alarms live in the cluster's alarms bucket instead of DATA_DIR/alarms.json
// and every change goes through it first (broker/cluster/cluster-alarms.ts); device memory stays
// in DATA_DIR.
import { z } from 'zod'
import type { ReadingView } from '../../devices/define-rule.ts'
import type { Spool } from '../spool/spool.ts'
import type { Logger } from '../log.ts'
import type { CrewIdentity, DeviceIdentity } from '../mqtt/authenticate.ts'
import type { BrokerOut } from '../mqtt/broker-out.ts'
import type { LogThrottle } from '../log-throttle.ts'
import type { AlarmTopic } from '../mqtt/topics.ts'
import type { MaintenanceGate } from '../maintenance/gate.ts'
import { startAlarmCluster, type AlarmCluster, type AlarmClusterOptions } from '../cluster/cluster-alarms.ts'
import type { AlarmDevice, AlarmEvent, AlarmRecord, EngineSnapshot } from './alarm.ts'
import { createAlarmEngine, type RuleSource } from './engine.ts'
import { createEscalation, type EscalationListener } from './escalation.ts'
import { createAlarmPublisher } from './publisher.ts'
import { openRuleBook } from './rules-config.ts'
import { createDeviceMemoryWriter, createOpenAlarmsWriter, readAlarmState } from './state.ts'
import { createWebhooks, type WebhookOptions } from './webhooks.ts'
import { startMailChannel, type MailChannel, type MailChannelOptions } from './mail/mail-channel.ts'
import type { Incidents } from './incidents.ts'
import { startIncidentStage } from './incident-stage.ts'
import { createFlappingTracker } from './flapping.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'

export interface AlarmsOptions {
  dataDir: string
  rulesFile: string | undefined
  pollMs: number
  webhookUrls: readonly string[]
  /** Per-request timeout, attempts and queue of each webhook. */
  webhookLimits: Pick<WebhookOptions, 'timeoutMs' | 'maxAttempts' | 'maxQueued' | 'retryBaseMs' | 'retryMaxMs'>
  /** How often silent devices are looked for. */
  offlineCheckMs: number
  out: BrokerOut
  spool: Spool
  log: Logger
  /** Ignored acknowledgements are logged once per crew and period. */
  throttle: LogThrottle
  /** Every change this node made (in a cluster: whose compare-and-set won), once it was delivered. */
  onEvent?: (event: AlarmEvent) => void
  /** Run as one node of a cluster: alarms shared through NATS JetStream KV. */
  cluster?: AlarmClusterOptions | undefined
  /** Alarm e-mail (SMTP_URL set); recipients come from the rules file's `mail` key. */
  mail?: Omit<MailChannelOptions, 'dataDir' | 'rules' | 'log' | 'cipher'> | undefined
  /** Maintenance windows: changes of covered devices are recorded but held back from crews. */
  maintenance?: MaintenanceGate | undefined
  /** Seals who acknowledged and the note wherever alarms rest (alarms.json, incidents.json, the cluster's buckets, `alarms` points); absent = clear (tests). */
  cipher?: FieldCipher | undefined
  /** Device groups (registry): alarms of many devices of one group become an incident (in a cluster through csg-incidents). */
  groups?: { groupOf(deviceId: string): string | undefined; groupSize(group: string): number } | undefined
}

export interface Alarms {
  onReadings(device: DeviceIdentity, readings: readonly ReadingView[]): void
  /** Applies a crew's acknowledgement; a bad payload or no matching open alarm is logged and ignored. */
  acknowledge(crew: CrewIdentity, target: AlarmTopic, payload: Buffer): void
  /**
   * Acknowledges by alarm id for an HTTP client (the console): the same rules as over MQTT —
   * only an open, active alarm in one of the crew's districts (undefined = all districts).
   */
  acknowledgeById(crewName: string, districts: readonly string[] | undefined, alarmId: string, note: string | undefined): Promise<AckByIdOutcome>
  /** Open alarms, then the most recently cleared ones (newest first), at most `RECENT_CLEARED` of those. */
  list(): AlarmRecord[]
  /** Called with every alarm change after it was published; returns an unsubscribe function. */
  subscribe(listener: (event: AlarmEvent) => void): () => void
  /** A change recorded but held back from crews by a maintenance window (live views skip it too). */
  isHeldBack(event: AlarmEvent): boolean
  /** Called with the open alarms a maintenance window held back, when it ended and they went to crews. */
  onReleased(listener: (alarms: readonly AlarmRecord[]) => void): () => void
  activeCount(): number
  /** Whether this node runs the offline check now: always without a cluster, the lease holder in one. */
  holdsOfflineCheck(): boolean
  /** The node running the offline check (cluster: the lease holder, undefined while none); undefined without a cluster. */
  offlineCheckHolder(): Promise<string | undefined>
  /** The e-mail channel (undefined without SMTP_URL): `enqueueMail` for escalations and incidents. */
  readonly mail: MailChannel | undefined
  /**
   * Called with each alarm this node escalated for want of an acknowledgement (change `overdue`)
   * and its recipients from the rules file, once it went to crews: the mail channel sends to
   * `recipients.emails`. Returns an unsubscribe function.
   */
  onEscalation(listener: EscalationListener): () => void
  /** Incidents of device groups (undefined without groups). */
  readonly incidents: Pick<Incidents, 'acknowledge' | 'list'> | undefined
  /** Applies a crew's MQTT acknowledgement of an incident; a bad payload or unknown incident is logged and ignored. */
  acknowledgeIncident(crew: CrewIdentity, target: { district: string; incidentId: string }, payload: Buffer): void
  close(): Promise<void>
}

export type AckByIdOutcome =
  | { ok: true; alarm: AlarmRecord }
  /** `unavailable`: cluster only, the alarms bucket could not be written (NATS down). */
  | { ok: false; reason: 'not_found' | 'forbidden' | 'already_acknowledged' | 'unavailable' }

/** How many cleared alarms `list()` keeps for the console. */
export const RECENT_CLEARED = 200

const ackPayloadSchema = z.object({ note: z.string().max(500).optional() })

/** An acknowledgement's payload (alarm or incident): empty, or `{"note"?}`. */
function parseAckPayload (payload: Buffer): { ok: true; note: string | undefined } | { ok: false; problem: string } {
  try {
    const parsed = ackPayloadSchema.safeParse(payload.length === 0 ? {} : JSON.parse(payload.toString('utf8')))
    return parsed.success ? { ok: true, note: parsed.data.note } : { ok: false, problem: parsed.error.issues[0]?.message ?? 'invalid' }
  } catch (err) {
    return { ok: false, problem: (err as Error).message }
  }
}
const LAST_SEEN_SAVE_MS = 30_000

export async function startAlarms (options: AlarmsOptions): Promise<Alarms> {
  const log = options.log.child({ module: 'alarms' })
  const { throttle } = options
  function ignoreAck (crew: CrewIdentity, target: AlarmTopic, reason: string, detail: Record<string, unknown> = {}): void {
    const suppressed = throttle.take(`ack_ignored:${crew.name}`)
    if (suppressed !== undefined) crew.log.info({ target, reason, suppressedSinceLast: suppressed, ...detail }, 'acknowledgement ignored')
  }
  const rules = await openRuleBook({ file: options.rulesFile, pollMs: options.pollMs, log })
  const saved = await readAlarmState(options.dataDir, options.cipher)
  // In a cluster the open alarms come from the bucket; alarms.json is neither read nor written.
  const gate = options.maintenance
  // Flapping alarms are kept open by the engine; in a cluster every node counts every node's raises (onDelivered).
  const flapping = createFlappingTracker(function flappingRules () { return rules.flapping() })
  const engineRules = { ...(gate === undefined ? rules : withOfflineExemption(rules, gate)), flappingJudge: flapping }
  const engine = createAlarmEngine(engineRules, withRestartGrace(options.cluster === undefined ? saved : { alarms: [], devices: saved?.devices ?? [] }, Date.now()))
  const openAlarmsFile = createOpenAlarmsWriter(options.dataDir, function openEntries () { return engine.openEntries() }, log, options.cipher)
  const deviceMemoryFile = createDeviceMemoryWriter(options.dataDir, function deviceMemory () { return engine.deviceMemory() }, log)
  const webhooks = options.webhookUrls.length > 0 ? createWebhooks({ urls: options.webhookUrls, log, ...options.webhookLimits }) : undefined
  const mail = options.mail === undefined ? undefined : await startMailChannel({ ...options.mail, dataDir: options.dataDir, cipher: options.cipher, rules () { return rules.mail() }, log })
  if (mail === undefined && rules.mail() !== undefined) log.warn({ file: options.rulesFile }, 'the rules file names mail recipients but SMTP_URL is not set: no alarm e-mail is sent')
  const listeners = new Set<(event: AlarmEvent) => void>()
  const releaseListeners = new Set<(alarms: readonly AlarmRecord[]) => void>()
  /** A change a maintenance window holds back from crews, and so from mail and escalation too. */
  function isHeldBack (event: AlarmEvent): boolean {
    return gate !== undefined && !gate.shouldPush(event)
  }
  // Alarms of a group storm are pushed as one incident: DATA_DIR/incidents.json alone, the csg-incidents bucket in a cluster.
  const groups = options.groups
  const incidentStage = groups === undefined
    ? undefined
    : await startIncidentStage({
      dataDir: options.dataDir,
      pollMs: options.pollMs,
      openAlarmIds: new Set(engine.openAlarms().map(function idOf (a) { return a.id })),
      cluster: options.cluster === undefined ? undefined : { nc: options.cluster.nc, replicas: options.cluster.replicas },
      cipher: options.cipher,
      log,
      incidents: {
        rules () { return rules.incidents() },
        groupOf (deviceId) { return groups.groupOf(deviceId) },
        groupSize (group) { return groups.groupSize(group) },
        async acknowledgeMember (crewName, member, note) {
          const alarm = engine.openAlarms().find(function byId (a) { return a.id === member.id })
          if (alarm === undefined || alarm.state !== 'active') return false
          const outcome = engine.acknowledge(crewName, alarm.deviceId, alarm.type, note, Date.now())
          if (!outcome.ok) return false
          return (await commitAck(outcome.event)).ok
        },
        out: options.out,
        log,
        mail (request) { void mail?.enqueueMail(request) },
      },
    })
  const incidents: Incidents | undefined = incidentStage?.incidents
  const clusterIncidents = incidentStage?.cluster
  /**
   * The one push decision: maintenance windows, then incidents (a member alarm goes out as its
   * incident), then flapping (a flapping alarm is not pushed again until it clears).
   */
  function shouldPush (event: AlarmEvent): boolean {
    return (gate === undefined || gate.shouldPush(event)) && (incidents === undefined || incidents.shouldPush(event)) &&
      (flapping === undefined || flapping.shouldPush(event))
  }
  const escalation = createEscalation({
    engine,
    rules,
    out: options.out,
    log,
    isExempt (alarm, nowMs) { return alarm.incident !== undefined || alarm.flapping === true || gate?.isUnderMaintenance({ id: alarm.deviceId, district: alarm.district }, nowMs) === true },
  })
  // An escalation step is mailed to the severity's recipients and the rules file's escalateTo addresses.
  escalation.onEscalation(function mailEscalation (event, recipients) {
    void mail?.enqueueMail({ kind: 'escalation', alarm: event.alarm, escalation: event.alarm.escalation ?? 1, ackDueAt: event.alarm.ackDueAt, extra: recipients.emails })
  })
  const recentlyCleared: AlarmRecord[] = []
  const publisher = createAlarmPublisher({
    out: options.out,
    spool: options.spool,
    log,
    webhooks,
    shouldPush,
    cipher: options.cipher,
    onDelivered (event, isOwn) {
      if (event.alarm.state === 'cleared') {
        recentlyCleared.unshift(event.alarm)
        if (recentlyCleared.length > RECENT_CLEARED) recentlyCleared.pop()
      }
      if (isOwn) options.onEvent?.(event)
      clusterIncidents?.observe(event, isOwn)
      // Another node's raise counts towards flapping here too: the device may come to this node next.
      if (!isOwn) flapping.note([event])
      // A change a maintenance window holds back, or an incident's member alarm, is not mailed.
      if (isOwn && shouldPush(event)) mail?.onAlarmChange(event)
      escalation.delivered(event, isOwn)
      for (const listener of listeners) {
        try {
          listener(event)
        } catch (err) {
          log.error({ err }, 'alarm listener failed')
        }
      }
    },
  })

  let cluster: AlarmCluster | undefined
  if (options.cluster === undefined) {
    const nowMs = Date.now()
    const restored = engine.openAlarms().filter(function notHeld (alarm) { return gate?.isUnderMaintenance({ id: alarm.deviceId, district: alarm.district }, nowMs) !== true })
    await publisher.restoreRetained(restored)
    if (restored.length > 0) log.info({ open: restored.length }, 'open alarms restored')
    await incidents?.restoreRetained()
  } else {
    try {
      cluster = await startAlarmCluster({ ...options.cluster, engine, publisher, log, offlineCheckMs: options.offlineCheckMs, cipher: options.cipher })
    } catch (err) {
      rules.close()
      await incidentStage?.close()
      await webhooks?.close()
      await mail?.close()
      throw err
    }
    recentlyCleared.push(...cluster.cleared.slice(0, RECENT_CLEARED))
  }

  function handle (events: readonly AlarmEvent[]): void {
    if (events.length === 0) return
    gate?.stamp(events, Date.now())
    incidents?.classify(events, Date.now())
    flapping?.note(events)
    if (cluster === undefined) {
      publisher.deliver(events)
      openAlarmsFile.save()
      return
    }
    for (const event of events) void cluster.propose(event)
  }

  /** Applies an acknowledgement the engine accepted: at once alone, by compare-and-set in a cluster. */
  async function commitAck (event: AlarmEvent): Promise<{ ok: true, alarm: AlarmRecord } | { ok: false, reason: 'not_found' | 'already_acknowledged' | 'unavailable' }> {
    if (cluster === undefined) {
      handle([event])
      return { ok: true, alarm: event.alarm }
    }
    const outcome = await cluster.propose(event)
    if (outcome.ok) return { ok: true, alarm: outcome.event.alarm }
    return { ok: false, reason: outcome.reason === 'superseded' ? 'not_found' : outcome.reason }
  }

  // The engine's view of a device, made once per connection: the engine keeps the latest one it
  // was given, so a fresh object per message would outlive young-generation GCs for nothing.
  const subjects = new WeakMap<DeviceIdentity, AlarmDevice>()
  function subjectOf (device: DeviceIdentity): AlarmDevice {
    let subject = subjects.get(device)
    if (subject === undefined) {
      subject = { id: device.id, kind: device.kind.name, district: device.district, location: device.location }
      subjects.set(device, subject)
    }
    return subject
  }

  let isSeenDirty = false
  const offlineTimer = setInterval(function checkOffline () {
    const nowMs = Date.now()
    handle(cluster === undefined ? engine.checkOffline(nowMs) : cluster.tick(nowMs))
    // Deadlines on the same timer; in a cluster only the offline check's holder escalates, so each step is taken once.
    if (cluster === undefined || cluster.holdsOfflineCheck()) handle(escalation.check(nowMs))
  }, options.offlineCheckMs)
  const seenTimer = setInterval(function saveLastSeen () {
    if (isSeenDirty) deviceMemoryFile.save()
    isSeenDirty = false
  }, LAST_SEEN_SAVE_MS)
  offlineTimer.unref()
  seenTimer.unref()
  rules.onChange(function reconcileRules () { handle(engine.reconcile(Date.now())) })
  gate?.onEnded(function releaseHeld (windows) {
    const nowMs = Date.now()
    const held = engine.openAlarms().filter(function wasHeld (alarm) {
      const device = { id: alarm.deviceId, district: alarm.district }
      return windows.some(function coveredIt (w) { return alarm.maintenance === w.id || gate.coveredBy(w, device) }) && !gate.isUnderMaintenance(device, nowMs)
    })
    if (held.length === 0) return
    // Every node publishes to its own crews; webhooks go out once, from the offline check's holder in a cluster.
    void publisher.release(held, cluster?.holdsOfflineCheck() ?? true).then(function released () {
      for (const listener of releaseListeners) {
        try {
          listener(held)
        } catch (err) {
          log.error({ err }, 'alarm release listener failed')
        }
      }
    })
  })

  return {
    onReadings (device, readings) {
      isSeenDirty = true
      cluster?.heard(device.id)
      handle(engine.evaluate(subjectOf(device), readings, Date.now()))
    },
    acknowledge (crew, target, payload) {
      const ack = parseAckPayload(payload)
      if (!ack.ok) {
        ignoreAck(crew, target, 'bad_ack_payload', { err: { message: ack.problem } })
        return
      }
      const { note } = ack
      // The topic's district and kind must be the alarm's: a crew may not reach another district's alarm by naming its own.
      const alarm = engine.openAlarms().find(function matches (a) { return a.deviceId === target.deviceId && a.type === target.type })
      if (alarm === undefined || alarm.district !== target.district || alarm.kind !== target.kind) {
        ignoreAck(crew, target, 'no_open_alarm')
        return
      }
      const outcome = engine.acknowledge(crew.name, target.deviceId, target.type, note, Date.now())
      if (!outcome.ok) {
        ignoreAck(crew, target, outcome.reason)
        return
      }
      void commitAck(outcome.event).then(function committed (result) {
        if (!result.ok) ignoreAck(crew, target, result.reason)
      })
    },
    async acknowledgeById (crewName, districts, alarmId, note) {
      const alarm = engine.openAlarms().find(function byId (a) { return a.id === alarmId })
      if (alarm === undefined) return { ok: false, reason: 'not_found' }
      if (districts !== undefined && !districts.includes(alarm.district)) return { ok: false, reason: 'forbidden' }
      const outcome = engine.acknowledge(crewName, alarm.deviceId, alarm.type, note, Date.now())
      if (!outcome.ok) return { ok: false, reason: outcome.reason === 'not_found' ? 'not_found' : 'already_acknowledged' }
      return commitAck(outcome.event)
    },
    list () { return [...engine.openAlarms(), ...recentlyCleared] },
    subscribe (listener) {
      listeners.add(listener)
      return function unsubscribe () { listeners.delete(listener) }
    },
    isHeldBack,
    onReleased (listener) {
      releaseListeners.add(listener)
      return function unsubscribe () { releaseListeners.delete(listener) }
    },
    activeCount () { return engine.openAlarms().length },
    holdsOfflineCheck () { return cluster?.holdsOfflineCheck() ?? true },
    offlineCheckHolder () { return cluster?.offlineCheckHolder() ?? Promise.resolve(undefined) },
    mail,
    onEscalation (listener) { return escalation.onEscalation(listener) },
    incidents,
    acknowledgeIncident (crew, target, payload) {
      const ignore = function ignoreIncidentAck (reason: string, detail: Record<string, unknown> = {}): void {
        const suppressed = throttle.take(`ack_ignored:${crew.name}`)
        if (suppressed !== undefined) crew.log.info({ target, reason, suppressedSinceLast: suppressed, ...detail }, 'incident acknowledgement ignored')
      }
      if (incidents === undefined) return ignore('no_incidents')
      const ack = parseAckPayload(payload)
      if (!ack.ok) return ignore('bad_ack_payload', { err: { message: ack.problem } })
      const { note } = ack
      // The topic's district must be the incident's: a crew may not reach another district's incident by naming its own.
      const incident = incidents.list().find(function byId (i) { return i.id === target.incidentId })
      if (incident === undefined || incident.district !== target.district) return ignore('no_open_incident')
      void incidents.acknowledge(crew.name, crew.districts, target.incidentId, note, Date.now()).then(function done (outcome) {
        if (!outcome.ok) ignore(outcome.reason)
      })
    },
    async close () {
      await incidentStage?.close()
      clearInterval(offlineTimer)
      clearInterval(seenTimer)
      rules.close()
      await cluster?.close()
      await publisher.flush()
      if (cluster === undefined) openAlarmsFile.save()
      deviceMemoryFile.save()
      await Promise.all([openAlarmsFile.flush(), deviceMemoryFile.flush()])
      await webhooks?.close()
      await mail?.close()
    },
  }
}

/** The rule book with devices under maintenance exempt from deviceOffline. */
function withOfflineExemption (rules: RuleSource, gate: MaintenanceGate): RuleSource {
  // The rule book's methods are closures: spread, they are called directly (rulesFor runs per reading).
  return {
    ...rules,
    isOfflineExempt (device, nowMs) { return gate.isUnderMaintenance(device, nowMs) },
  }
}

/**
 * While the gateway was down nobody could report: counting that silence would raise deviceOffline
 * for every device at once. Devices get a full offline period from the restart instead.
 */
function withRestartGrace (snapshot: EngineSnapshot | undefined, nowMs: number): EngineSnapshot | undefined {
  if (snapshot === undefined) return undefined
  return {
    ...snapshot,
    devices: snapshot.devices.map(function graced (entry) {
      return entry.lastSeenMs === undefined ? entry : { ...entry, lastSeenMs: Math.max(entry.lastSeenMs, nowMs) }
    }),
  }
}
