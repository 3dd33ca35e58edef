// Stage 9, the alarm publisher: alarm state changes → InfluxDB (an `alarms` point through the
// durable spool), one log line each, then crews (MQTT, retained while open) and webhooks. Each
// change's point is appended the moment the change is handed over, ahead of its delivery, and the
// delivery does not wait for that append's fsync: under load the fsync is the telemetry's group
// commit, and crews must not wait for storage. No delivery, slow or failed, can hold up or lose the
// record of a change. A crash in the millisecond between delivery and fsync can lose the point of a
// change crews heard of; the reading that caused it was not acknowledged either, so the device
// sends it again and the change is made, recorded and delivered again. Deliveries of one alarm
// (device and type) are serialised, so a crew never sees a clear before the raise it clears;
// different alarms do not wait for each other.
// In a cluster every node delivers every change to its own crews, but only the node whose change it
// was records it and sends its webhooks (`isOwn`); the others relay it.
import { createIncreasingClock } from '../increasing-clock.ts'
import type { Logger } from '../log.ts'
import { encodeAlarm, type AlarmPoint } from '../influx/line-protocol.ts'
import type { Spool } from '../spool/spool.ts'
import type { BrokerOut } from '../mqtt/broker-out.ts'
import { formatAlarmTopic } from '../mqtt/topics.ts'
import type { AlarmEvent, AlarmRecord } from './alarm.ts'
import type { Webhooks } from './webhooks.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { sealAlarm } from '../crypto/sealed-alarm.ts'

export interface AlarmPublisherOptions {
  out: BrokerOut
  spool: Spool
  log: Logger
  webhooks?: Webhooks | undefined
  /** Whether a change goes to crews and webhooks (maintenance windows hold some back); absent = all do. */
  shouldPush?: ((event: AlarmEvent) => boolean) | undefined
  /** Seals who acknowledged and the note in the `alarms` point (the spool and InfluxDB keep it); absent = clear. */
  cipher?: FieldCipher | undefined
  /** After a change went to crews; `isOwn`: this node made it (see DeliveryOptions). */
  onDelivered?: (event: AlarmEvent, isOwn: boolean) => void
}

export interface DeliveryOptions {
  /**
   * This node made the change (default): it logs it, appends its `alarms` point and sends its
   * webhooks. Another node's change (cluster) only goes to this node's crews and listeners.
   */
  isOwn?: boolean
  /** A newer state of the alarm already went to crews: nothing is published or passed to listeners. */
  isSuperseded?: boolean
}

export interface AlarmPublisher {
  deliver(events: readonly AlarmEvent[], options?: DeliveryOptions): void
  /**
   * Puts the retained message of each open alarm back (the broker keeps them in memory only),
   * each ahead of any later change of its alarm.
   */
  restoreRetained(alarms: readonly AlarmRecord[]): Promise<void>
  /**
   * Delivers open alarms held back by a maintenance window that ended: published retained like a
   * raise, and sent to the webhooks as `raised` when `withWebhooks`. No new point: the raise was recorded.
   */
  release(alarms: readonly AlarmRecord[], withWebhooks: boolean): Promise<void>
  /** Resolves once everything handed to deliver() went out and its point is on disk. */
  flush(): Promise<void>
}

const LOG_MESSAGE = {
  raised: 'alarm raised',
  escalated: 'alarm escalated',
  overdue: 'alarm overdue: escalated for want of an acknowledgement',
  acknowledged: 'alarm acknowledged',
  cleared: 'alarm cleared',
  flapping: 'alarm flapping: kept open',
  unflapping: 'alarm no longer flapping',
} as const

export function createAlarmPublisher (options: AlarmPublisherOptions): AlarmPublisher {
  const log = options.log.child({ module: 'alarms' })
  /** The last delivery queued per alarm (device + type); removed once it is done and still the last. */
  const chains = new Map<string, Promise<void>>()
  /** Point times per alarm series, so two changes in one millisecond stay two points. */
  const pointClock = createIncreasingClock()
  /** Appends of points not yet on disk, for flush(). */
  const recording = new Set<Promise<void>>()

  function pointTime (alarm: AlarmRecord): number {
    return pointClock.next(`${alarm.deviceId}\n${alarm.type}\n${alarm.severity}`, Date.parse(alarm.updatedAt))
  }

  /** Logs the change and appends its point (on disk soon after; a failure is logged). */
  function record (event: AlarmEvent): void {
    const { alarm } = event
    // Who acknowledged is personal data: logs name whether, not who (logs are often kept in clear).
    log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, type: alarm.type, severity: alarm.severity, state: alarm.state, value: alarm.value, threshold: alarm.threshold, isAcked: alarm.ackedBy !== undefined, escalation: alarm.escalation, ackDueAt: alarm.ackDueAt }, LOG_MESSAGE[event.change])
    const cipher = options.cipher
    const stored = cipher === undefined ? event : { ...event, alarm: sealAlarm(alarm, cipher) }
    const line = encodeAlarm(alarmPointOf(stored, pointTime(alarm)))
    const appended = options.spool.append([line]).catch(function notStored (err: unknown) {
      log.error({ err, deviceId: alarm.deviceId, alarmId: alarm.id }, 'alarm point not stored')
    })
    recording.add(appended)
    void appended.finally(function forgetAppended () { recording.delete(appended) })
  }

  async function deliverOne (event: AlarmEvent, isOwn: boolean, isSuperseded: boolean): Promise<void> {
    const { alarm } = event
    const isPushed = options.shouldPush?.(event) ?? true
    if (!isSuperseded && isPushed) {
      const topic = formatAlarmTopic(alarm)
      const payload = Buffer.from(JSON.stringify(alarm))
      try {
        if (alarm.state === 'cleared') {
          await options.out.publish(topic, payload, false)
          await options.out.removeRetained(topic)
        } else {
          await options.out.publish(topic, payload, true)
        }
      } catch (err) {
        log.error({ err, deviceId: alarm.deviceId, alarmId: alarm.id }, 'alarm not published over MQTT')
      }
    }
    if (isOwn && isPushed) options.webhooks?.send(event)
    if (!isSuperseded) options.onDelivered?.(event, isOwn)
  }

  /** Runs `step` after everything queued before for the alarm; the chain never stays rejected. */
  function enqueue (alarm: AlarmRecord, step: () => Promise<void>): Promise<void> {
    const key = `${alarm.deviceId}\n${alarm.type}`
    const next = (chains.get(key) ?? Promise.resolve())
      .then(step)
      .catch(function deliveryFailed (err: unknown) {
        // Never leaves the chain rejected: later changes of this alarm must still go out.
        log.error({ err, deviceId: alarm.deviceId, alarmId: alarm.id }, 'alarm delivery failed')
      })
    chains.set(key, next)
    void next.finally(function forgetDone () { if (chains.get(key) === next) chains.delete(key) })
    return next
  }

  return {
    deliver (events, { isOwn = true, isSuperseded = false } = {}) {
      for (const event of events) {
        if (!isOwn) log.debug({ deviceId: event.alarm.deviceId, alarmId: event.alarm.id, state: event.alarm.state }, 'alarm change of another node relayed')
        if (isOwn) record(event)
        void enqueue(event.alarm, function deliverNext () { return deliverOne(event, isOwn, isSuperseded) })
      }
    },
    async restoreRetained (alarms) {
      await Promise.all(alarms.map(function restore (alarm) {
        return enqueue(alarm, function publishRetained () {
          return options.out.publish(formatAlarmTopic(alarm), Buffer.from(JSON.stringify(alarm)), true)
        })
      }))
    },
    async release (alarms, withWebhooks) {
      await Promise.all(alarms.map(function releaseOne (alarm) {
        return enqueue(alarm, async function publishHeld () {
          log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, type: alarm.type, severity: alarm.severity, maintenance: alarm.maintenance }, 'alarm released after maintenance')
          await options.out.publish(formatAlarmTopic(alarm), Buffer.from(JSON.stringify(alarm)), true)
          if (withWebhooks) options.webhooks?.send({ change: 'raised', alarm })
        })
      }))
    },
    async flush () {
      while (chains.size > 0 || recording.size > 0) await Promise.all([...chains.values(), ...recording])
    },
  }
}

/** The `alarms` point of one change: the record's state plus what the history needs (README "InfluxDB"). */
export function alarmPointOf (event: AlarmEvent, tsMs: number): AlarmPoint {
  const { alarm, change } = event
  const base = {
    deviceId: alarm.deviceId, district: alarm.district, kind: alarm.kind, type: alarm.type, severity: alarm.severity,
    state: alarm.state, value: alarm.value, threshold: alarm.threshold, message: alarm.message, alarmId: alarm.id, change, tsMs,
    maintenance: alarm.maintenance,
    incident: alarm.incident,
    ...(alarm.escalation === undefined ? {} : { escalation: alarm.escalation }),
  }
  if (change === 'acknowledged') {
    return { ...base, ackedBy: alarm.ackedBy, ackNote: alarm.ackNote, ackSec: secondsBetween(alarm.raisedAt, alarm.ackedAt ?? alarm.updatedAt) }
  }
  if (change === 'cleared') return { ...base, clearSec: secondsBetween(alarm.raisedAt, alarm.clearedAt ?? alarm.updatedAt) }
  return base
}

/** Seconds from one ISO time to another, to the millisecond; undefined when either does not parse. */
function secondsBetween (fromIso: string, toIso: string): number | undefined {
  const ms = Date.parse(toIso) - Date.parse(fromIso)
  return Number.isFinite(ms) ? ms / 1000 : undefined
}
