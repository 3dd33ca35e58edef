// The alarm changes this gateway delivered since it started, per alarm, for the history: they
// cover what InfluxDB does not have yet (still in the spool) or at all (INFLUX_URL unset, InfluxDB
// down). Bounded: the alarms changed least recently are forgotten first.
import type { AlarmEvent } from '../alarms/alarm.ts'
import { factOfEvent, type AlarmFact } from './alarm-history.ts'

export interface AlarmJournal {
  record(event: AlarmEvent): void
  /** The facts of one alarm, oldest first; empty when it is not (or no longer) held. */
  factsOf(alarmId: string): readonly AlarmFact[]
  /** Every alarm held with its facts, one at a time. */
  alarms(): IterableIterator<[string, readonly AlarmFact[]]>
}

/** Alarms held; each has at most a handful of changes (raise, an escalation and an acknowledgement per severity, clear). */
export const JOURNAL_MAX_ALARMS = 5000
/** A guard only: an alarm has at most 9 distinct changes besides its overdue steps. */
const MAX_FACTS_PER_ALARM = 16
/** Overdue steps kept per alarm (the latest). */
const MAX_OVERDUE_PER_ALARM = 4

function isOverdue (fact: AlarmFact): boolean {
  return fact.change === 'overdue'
}

export function createAlarmJournal (maxAlarms = JOURNAL_MAX_ALARMS): AlarmJournal {
  // A Map keeps insertion order: re-inserting an alarm on each change makes the first key the least recently changed.
  const facts = new Map<string, AlarmFact[]>()
  return {
    record (event) {
      const id = event.alarm.id
      const held = facts.get(id) ?? []
      facts.delete(id)
      const fact = factOfEvent(event)
      // Overdue steps may go on for hours: only the latest ones are kept, so the acknowledgement and clear still fit.
      if (fact.change === 'overdue' && held.filter(isOverdue).length >= MAX_OVERDUE_PER_ALARM) held.splice(held.findIndex(isOverdue), 1)
      if (held.length < MAX_FACTS_PER_ALARM) held.push(fact)
      facts.set(id, held)
      if (facts.size > maxAlarms) {
        const oldest = facts.keys().next()
        if (oldest.done !== true) facts.delete(oldest.value)
      }
    },
    factsOf (alarmId) {
      return facts.get(alarmId) ?? []
    },
    alarms () {
      return facts.entries()
    },
  }
}
