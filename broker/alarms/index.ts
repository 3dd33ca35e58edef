// The alarm stage assembled: rules (defaults + rules file), engine, persisted state, publisher,
// webhooks and the offline timer. main.ts hands it accepted readings and crew acknowledgements.
import { z } from 'zod'
import type { ReadingView } from '../../devices/define-rule.ts'
import type { Spool } from '../spool/spool.ts'
import type { Logger } from '../log.ts'
import type { CrewIdentity, DeviceIdentity } from '../mqtt/authenticate.ts'
import type { BrokerOut } from '../mqtt/broker-out.ts'
import type { LogThrottle } from '../log-throttle.ts'
import type { AlarmTopic } from '../mqtt/topics.ts'
import type { AlarmDevice, AlarmEvent, AlarmRecord, EngineSnapshot } from './alarm.ts'
import { createAlarmEngine } from './engine.ts'
import { createAlarmPublisher } from './publisher.ts'
import { openRuleBook } from './rules-config.ts'
import { createDeviceMemoryWriter, createOpenAlarmsWriter, readAlarmState } from './state.ts'
import { createWebhooks, type WebhookOptions } from './webhooks.ts'

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
  onEvent?: (event: AlarmEvent) => void
}

export interface Alarms {
  onReadings(device: DeviceIdentity, readings: readonly ReadingView[]): void
  /** Applies a crew's acknowledgement; a bad payload or no matching open alarm is logged and ignored. */
  acknowledge(crew: CrewIdentity, target: AlarmTopic, payload: Buffer): void
  /**
   * Acknowledges by alarm id for an HTTP client (the console): the same rules as over MQTT —
   * only an open, active alarm in one of the crew's districts (undefined = all districts).
   */
  acknowledgeById(crewName: string, districts: readonly string[] | undefined, alarmId: string, note: string | undefined): AckByIdOutcome
  /** Open alarms, then the most recently cleared ones (newest first), at most `RECENT_CLEARED` of those. */
  list(): AlarmRecord[]
  /** Called with every alarm change after it was published; returns an unsubscribe function. */
  subscribe(listener: (event: AlarmEvent) => void): () => void
  activeCount(): number
  close(): Promise<void>
}

export type AckByIdOutcome =
  | { ok: true; alarm: AlarmRecord }
  | { ok: false; reason: 'not_found' | 'forbidden' | 'already_acknowledged' }

/** How many cleared alarms `list()` keeps for the console. */
export const RECENT_CLEARED = 200

const ackPayloadSchema = z.object({ note: z.string().max(500).optional() })
const LAST_SEEN_SAVE_MS = 30_000

export async function startAlarms (options: AlarmsOptions): Promise<Alarms> {
  const log = options.log.child({ module: 'alarms' })
  const { throttle } = options
  function ignoreAck (crew: CrewIdentity, target: AlarmTopic, reason: string, detail: Record<string, unknown> = {}): void {
    const suppressed = throttle.take(`ack_ignored:${crew.name}`)
    if (suppressed !== undefined) crew.log.info({ target, reason, suppressedSinceLast: suppressed, ...detail }, 'acknowledgement ignored')
  }
  const rules = await openRuleBook({ file: options.rulesFile, pollMs: options.pollMs, log })
  const saved = await readAlarmState(options.dataDir)
  const engine = createAlarmEngine(rules, withRestartGrace(saved, Date.now()))
  const openAlarmsFile = createOpenAlarmsWriter(options.dataDir, function openEntries () { return engine.openEntries() }, log)
  const deviceMemoryFile = createDeviceMemoryWriter(options.dataDir, function deviceMemory () { return engine.deviceMemory() }, log)
  const webhooks = options.webhookUrls.length > 0 ? createWebhooks({ urls: options.webhookUrls, log, ...options.webhookLimits }) : undefined
  const listeners = new Set<(event: AlarmEvent) => void>()
  const recentlyCleared: AlarmRecord[] = []
  const publisher = createAlarmPublisher({
    out: options.out,
    spool: options.spool,
    log,
    webhooks,
    onDelivered (event) {
      if (event.alarm.state === 'cleared') {
        recentlyCleared.unshift(event.alarm)
        if (recentlyCleared.length > RECENT_CLEARED) recentlyCleared.pop()
      }
      options.onEvent?.(event)
      for (const listener of listeners) {
        try {
          listener(event)
        } catch (err) {
          log.error({ err }, 'alarm listener failed')
        }
      }
    },
  })

  const restored = engine.openAlarms()
  await publisher.restoreRetained(restored)
  if (restored.length > 0) log.info({ open: restored.length }, 'open alarms restored')

  function handle (events: readonly AlarmEvent[]): void {
    if (events.length === 0) return
    publisher.deliver(events)
    openAlarmsFile.save()
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
  const offlineTimer = setInterval(function checkOffline () { handle(engine.checkOffline(Date.now())) }, options.offlineCheckMs)
  const seenTimer = setInterval(function saveLastSeen () {
    if (isSeenDirty) deviceMemoryFile.save()
    isSeenDirty = false
  }, LAST_SEEN_SAVE_MS)
  offlineTimer.unref()
  seenTimer.unref()
  rules.onChange(function reconcileRules () { handle(engine.reconcile(Date.now())) })

  return {
    onReadings (device, readings) {
      isSeenDirty = true
      handle(engine.evaluate(subjectOf(device), readings, Date.now()))
    },
    acknowledge (crew, target, payload) {
      let note: string | undefined
      try {
        const parsed = ackPayloadSchema.safeParse(payload.length === 0 ? {} : JSON.parse(payload.toString('utf8')))
        if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid')
        note = parsed.data.note
      } catch (err) {
        ignoreAck(crew, target, 'bad_ack_payload', { err: { message: (err as Error).message } })
        return
      }
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
      handle([outcome.event])
    },
    acknowledgeById (crewName, districts, alarmId, note) {
      const alarm = engine.openAlarms().find(function byId (a) { return a.id === alarmId })
      if (alarm === undefined) return { ok: false, reason: 'not_found' }
      if (districts !== undefined && !districts.includes(alarm.district)) return { ok: false, reason: 'forbidden' }
      const outcome = engine.acknowledge(crewName, alarm.deviceId, alarm.type, note, Date.now())
      if (!outcome.ok) return { ok: false, reason: outcome.reason === 'not_found' ? 'not_found' : 'already_acknowledged' }
      handle([outcome.event])
      return { ok: true, alarm: outcome.event.alarm }
    },
    list () { return [...engine.openAlarms(), ...recentlyCleared] },
    subscribe (listener) {
      listeners.add(listener)
      return function unsubscribe () { listeners.delete(listener) }
    },
    activeCount () { return engine.openAlarms().length },
    async close () {
      clearInterval(offlineTimer)
      clearInterval(seenTimer)
      rules.close()
      await publisher.flush()
      openAlarmsFile.save()
      deviceMemoryFile.save()
      await Promise.all([openAlarmsFile.flush(), deviceMemoryFile.flush()])
      await webhooks?.close()
    },
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
