// Alarm statistics per district and type over a time range: how many alarms were raised, how long
// crews took to acknowledge and to clear them (median and 90th percentile), how often alarms were
// escalated for want of an acknowledgement. Pure: facts of the changes in the range in (from
// InfluxDB and from memory, the same change possibly twice: every tally below counts a change once
// however often it is told), groups out.
import type { AlarmFact } from './alarm-history.ts'
import type { StatsGroup } from './types.ts'

/** The changes the statistics count; the others (severity rises) are left out of the query. */
export const STATS_CHANGES = ['raised', 'overdue', 'acknowledged', 'cleared'] as const

interface AlarmTally {
  district: string
  type: string
  isRaised: boolean
  /** Seconds from raise to its first acknowledgement in the range. */
  ackSec: number | undefined
  clearSec: number | undefined
  /** Escalation steps seen, by number (the same step may be told twice). */
  steps: Set<number>
}

/** The groups, sorted by district and type; every fact must already be in the range and visible. */
export function summarise (facts: Iterable<AlarmFact>): StatsGroup[] {
  const alarms = new Map<string, AlarmTally>()
  for (const fact of facts) {
    let tally = alarms.get(fact.alarmId)
    if (tally === undefined) {
      tally = { district: fact.district, type: fact.type, isRaised: false, ackSec: undefined, clearSec: undefined, steps: new Set() }
      alarms.set(fact.alarmId, tally)
    }
    const sinceRaise = fact.raisedAtMs === undefined ? undefined : Math.max(0, fact.atMs - fact.raisedAtMs) / 1000
    switch (fact.change) {
      case 'raised': tally.isRaised = true; break
      case 'overdue': tally.steps.add(fact.escalation ?? 0); break
      case 'acknowledged':
        if (sinceRaise !== undefined && (tally.ackSec === undefined || sinceRaise < tally.ackSec)) tally.ackSec = sinceRaise
        break
      case 'cleared':
        if (sinceRaise !== undefined) tally.clearSec = sinceRaise
        break
      default: break
    }
  }

  const groups = new Map<string, { district: string; type: string; count: number; ack: number[]; clear: number[]; escalations: number }>()
  for (const tally of alarms.values()) {
    const key = `${tally.district}\n${tally.type}`
    let group = groups.get(key)
    if (group === undefined) {
      group = { district: tally.district, type: tally.type, count: 0, ack: [], clear: [], escalations: 0 }
      groups.set(key, group)
    }
    if (tally.isRaised) group.count++
    if (tally.ackSec !== undefined) group.ack.push(tally.ackSec)
    if (tally.clearSec !== undefined) group.clear.push(tally.clearSec)
    group.escalations += tally.steps.size
  }

  return [...groups.values()]
    .sort(function byDistrictAndType (a, b) { return a.district.localeCompare(b.district) || a.type.localeCompare(b.type) })
    .map(function statsOf (group) {
      const stats: StatsGroup = { district: group.district, type: group.type, count: group.count, acknowledged: group.ack.length, cleared: group.clear.length, escalations: group.escalations }
      if (group.ack.length > 0) {
        stats.medianAckSec = percentile(group.ack, 0.5)
        stats.p90AckSec = percentile(group.ack, 0.9)
      }
      if (group.clear.length > 0) {
        stats.medianClearSec = percentile(group.clear, 0.5)
        stats.p90ClearSec = percentile(group.clear, 0.9)
      }
      return stats
    })
}

/**
 * The `p` quantile (0–1) of a non-empty list, interpolated between the two nearest values (the
 * usual definition: the median of 10 and 20 is 15), to the millisecond.
 */
export function percentile (values: readonly number[], p: number): number {
  const sorted = [...values].sort(function ascending (a, b) { return a - b })
  const position = (sorted.length - 1) * p
  const lower = Math.floor(position)
  const upper = Math.ceil(position)
  const value = sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (position - lower)
  return Math.round(value * 1000) / 1000
}
