// Stage 9, the alarm publisher: alarm state changes → InfluxDB (an `alarms` point through the
// durable spool), one log line each, then crews (MQTT, retained while open) and webhooks. Each
// change's point is appended the moment the change is handed over and is on disk before the change
// is delivered: no delivery, slow or failed, can hold up or lose the record of a change. Deliveries
// of one alarm (device and type) are serialised, so a crew never sees a clear before the raise it
// clears; different alarms do not wait for each other.
import { createIncreasingClock } from '../increasing-clock.ts'
import type { Logger } from '../log.ts'
import { encodeAlarm } from '../influx/line-protocol.ts'
import type { Spool } from '../spool/spool.ts'
import type { BrokerOut } from '../mqtt/broker-out.ts'
import { formatAlarmTopic } from '../mqtt/topics.ts'
import type { AlarmEvent, AlarmRecord } from './alarm.ts'
import type { Webhooks } from './webhooks.ts'

export interface AlarmPublisherOptions {
  out: BrokerOut
  spool: Spool
  log: Logger
  webhooks?: Webhooks | undefined
  onDelivered?: (event: AlarmEvent) => void
}

export interface AlarmPublisher {
  deliver(events: readonly AlarmEvent[]): void
  /** Puts the retained message of each open alarm back (the broker keeps them in memory only). */
  restoreRetained(alarms: readonly AlarmRecord[]): Promise<void>
  /** Resolves once everything handed to deliver() was recorded and went out. */
  flush(): Promise<void>
}

const LOG_MESSAGE = { raised: 'alarm raised', escalated: 'alarm escalated', acknowledged: 'alarm acknowledged', cleared: 'alarm cleared' } as const

export function createAlarmPublisher (options: AlarmPublisherOptions): AlarmPublisher {
  const log = options.log.child({ module: 'alarms' })
  /** The last delivery queued per alarm (device + type); removed once it is done and still the last. */
  const chains = new Map<string, Promise<void>>()
  /** Point times per alarm series, so two changes in one millisecond stay two points. */
  const pointClock = createIncreasingClock()

  function pointTime (alarm: AlarmRecord): number {
    return pointClock.next(`${alarm.deviceId}\n${alarm.type}\n${alarm.severity}`, Date.parse(alarm.updatedAt))
  }

  /** Logs the change and appends its point; resolves once the point is on disk (or failed, logged). */
  function record (event: AlarmEvent): Promise<void> {
    const { alarm } = event
    log.info({ deviceId: alarm.deviceId, alarmId: alarm.id, type: alarm.type, severity: alarm.severity, state: alarm.state, value: alarm.value, threshold: alarm.threshold, ackedBy: alarm.ackedBy }, LOG_MESSAGE[event.change])
    const line = encodeAlarm({ ...alarm, tsMs: pointTime(alarm) })
    return options.spool.append([line]).catch(function notStored (err: unknown) {
      log.error({ err, deviceId: alarm.deviceId, alarmId: alarm.id }, 'alarm point not stored')
    })
  }

  async function deliverOne (event: AlarmEvent): Promise<void> {
    const { alarm } = event
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
    options.webhooks?.send(event)
    options.onDelivered?.(event)
  }

  return {
    deliver (events) {
      for (const event of events) {
        const key = `${event.alarm.deviceId}\n${event.alarm.type}`
        const recorded = record(event)
        const next = (chains.get(key) ?? Promise.resolve())
          .then(function afterRecorded () { return recorded })
          .then(function deliverNext () { return deliverOne(event) })
          .catch(function deliveryFailed (err: unknown) {
            // Never leaves the chain rejected: later changes of this alarm must still go out.
            log.error({ err, deviceId: event.alarm.deviceId, alarmId: event.alarm.id }, 'alarm delivery failed')
          })
        chains.set(key, next)
        void next.finally(function forgetDone () { if (chains.get(key) === next) chains.delete(key) })
      }
    },
    async restoreRetained (alarms) {
      for (const alarm of alarms) {
        await options.out.publish(formatAlarmTopic(alarm), Buffer.from(JSON.stringify(alarm)), true)
      }
    },
    async flush () {
      while (chains.size > 0) await Promise.all(chains.values())
    },
  }
}
