// Escalation of alarms nobody acknowledged: on the alarm stage's timer, every active alarm past its
// `ackDueAt` becomes an `overdue` change (escalation counted up, the next deadline one period on),
// which goes the way of every change (point, log line, retained re-send to the district's crews).
// Once delivered, it also goes to the escalation recipients of the rules file: crews on their own
// `escalations/{crew}/…` topic (every node, to its own clients), e-mail addresses to whoever
// listens with onEscalation (the node that made the change only, so one mail per step).
import type { Logger } from '../log.ts'
import type { BrokerOut } from '../mqtt/broker-out.ts'
import { formatEscalationTopic } from '../mqtt/topics.ts'
import type { AlarmDevice, AlarmEvent, AlarmRecord } from './alarm.ts'
import type { AlarmEngine } from './engine.ts'
import { dueMsOf, nextDueMs, type EscalationRecipients } from './escalation-rules.ts'
import type { RuleBook } from './rules-config.ts'

export type EscalationListener = (event: AlarmEvent, recipients: EscalationRecipients) => void

export interface EscalationOptions {
  engine: Pick<AlarmEngine, 'openAlarms' | 'overdue'>
  rules: Pick<RuleBook, 'ackDeadlineMs' | 'escalationRecipients'>
  out: BrokerOut
  log: Logger
  /** An alarm whose device a maintenance window covers now: not escalated. */
  isExempt?: (alarm: AlarmRecord, nowMs: number) => boolean
}

export interface Escalation {
  /** The overdue changes due at `nowMs`, applied to the engine; the caller delivers them. */
  check(nowMs: number): AlarmEvent[]
  /** After any change went to crews: an overdue one goes on to the escalation recipients. */
  delivered(event: AlarmEvent, isOwn: boolean): void
  /** Called with each own overdue change and its recipients (the mail channel); returns an unsubscribe function. */
  onEscalation(listener: EscalationListener): () => void
}

export function createEscalation (options: EscalationOptions): Escalation {
  const { engine, rules, out } = options
  const log = options.log.child({ module: 'escalation' })
  const listeners = new Set<EscalationListener>()

  function deviceOf (alarm: AlarmRecord): AlarmDevice {
    return { id: alarm.deviceId, kind: alarm.kind, district: alarm.district, location: alarm.location }
  }

  return {
    check (nowMs) {
      const events: AlarmEvent[] = []
      for (const alarm of engine.openAlarms()) {
        const dueMs = dueMsOf(alarm)
        if (dueMs === undefined || dueMs > nowMs) continue
        if (options.isExempt?.(alarm, nowMs) === true) continue
        // The period in force now: the rules file may have changed since the deadline was set, or switched it off.
        const periodMs = rules.ackDeadlineMs(deviceOf(alarm), alarm.severity)
        if (periodMs === undefined) continue
        const event = engine.overdue(alarm.id, alarm.deviceId, alarm.type, (alarm.escalation ?? 0) + 1, nextDueMs(periodMs, nowMs), nowMs)
        if (event !== undefined) events.push(event)
      }
      return events
    },

    delivered (event, isOwn) {
      if (event.change !== 'overdue') return
      const { alarm } = event
      const recipients = rules.escalationRecipients(deviceOf(alarm))
      if (recipients.crews.length > 0) {
        const payload = Buffer.from(JSON.stringify(alarm))
        for (const crew of recipients.crews) {
          out.publish(formatEscalationTopic(crew, alarm), payload, false).catch(function notPublished (err: unknown) {
            log.error({ err, deviceId: alarm.deviceId, alarmId: alarm.id, crew, reason: 'publish_failed' }, 'escalation not published to crew')
          })
        }
      }
      if (!isOwn) return
      // The step's own line is the publisher's ('alarm overdue: …'); this one is detail.
      log.debug({ deviceId: alarm.deviceId, alarmId: alarm.id, escalation: alarm.escalation, crews: recipients.crews, emails: recipients.emails.length, reason: 'not_acknowledged' }, 'alarm escalated to recipients')
      for (const listener of listeners) {
        try {
          listener(event, recipients)
        } catch (err) {
          log.error({ err, deviceId: alarm.deviceId, alarmId: alarm.id }, 'escalation listener failed')
        }
      }
    },

    onEscalation (listener) {
      listeners.add(listener)
      return function unsubscribe () { listeners.delete(listener) }
    },
  }
}
