// Flapping alarms: an alarm raised (and cleared) more than `raises` times within `withinSec` is kept
// open with `flapping: true` instead of clearing, and nothing more of it is pushed to crews until
// its clear condition has held for `withinSec`; then it clears normally (that clear is pushed). The
// rules file's `flapping` key. The engine asks `isFlapping` only where it would clear an alarm, and
// `quietMs` only for an alarm already flapping, so readings of quiet devices cost nothing here.
import { z } from 'zod'
import type { AlarmEvent, AlarmRecord } from './alarm.ts'

export const flappingRulesSchema = z.strictObject({
  /** false: alarms clear whenever their clear condition holds. */
  enabled: z.boolean().optional(),
  /** More raises than this within the window make an alarm flapping. */
  raises: z.number().int().min(1).max(1000).optional(),
  /** The window, seconds; also how long a flapping alarm must stay clear before it clears. */
  withinSec: z.number().positive().max(604_800).optional(),
})
export type FlappingRulesFile = z.infer<typeof flappingRulesSchema>

export interface FlappingRules {
  readonly enabled: boolean
  readonly raises: number
  readonly withinMs: number
}

export const DEFAULT_FLAPPING_RULES: FlappingRules = { enabled: true, raises: 4, withinMs: 30 * 60_000 }

export function flappingRulesOf (file: FlappingRulesFile | undefined): FlappingRules {
  return {
    enabled: file?.enabled ?? DEFAULT_FLAPPING_RULES.enabled,
    raises: file?.raises ?? DEFAULT_FLAPPING_RULES.raises,
    withinMs: file?.withinSec === undefined ? DEFAULT_FLAPPING_RULES.withinMs : file.withinSec * 1000,
  }
}

/** What the engine asks (RuleSource.flappingJudge). */
export interface FlappingJudge {
  /** About to clear this alarm at `atMs` (reading time): keep it open as flapping instead? */
  isFlapping(alarm: AlarmRecord, atMs: number): boolean
  /** How long the clear condition of a flapping alarm must hold before it clears, ms. */
  quietMs(): number
}

export interface FlappingTracker extends FlappingJudge {
  /**
   * Notes the raise of each alarm among the changes (its `raisedAt`, reading time), once per alarm
   * id: from any of its changes, since in a cluster another node's raise may reach this node only
   * as its clear (the alarms bucket keeps the latest version of each alarm).
   */
  note(events: readonly AlarmEvent[]): void
  /** Whether a change goes to crews: of a flapping alarm only its acknowledgement and its final clear. */
  shouldPush(event: AlarmEvent): boolean
}

export function createFlappingTracker (rules: () => FlappingRules): FlappingTracker {
  /** Raises (reading time, ms, and alarm id) per device and type within the window, oldest first. */
  const raises = new Map<string, { atMs: number; id: string }[]>()

  function recent (key: string, nowMs: number, withinMs: number): { atMs: number; id: string }[] | undefined {
    const times = raises.get(key)
    if (times === undefined) return undefined
    let drop = 0
    while (drop < times.length && times[drop]!.atMs < nowMs - withinMs) drop++
    if (drop > 0) times.splice(0, drop)
    if (times.length === 0) raises.delete(key)
    return times
  }

  return {
    note (events) {
      const current = rules()
      if (!current.enabled) return
      // Only the newest raises + 1 matter (more than `raises` make an alarm flapping): each list stays
      // that short, so an alarm raised thousands of times costs no more per change than a quiet one.
      const keep = current.raises + 1
      for (const event of events) {
        const key = `${event.alarm.deviceId}\n${event.alarm.type}`
        const known = raises.get(key)
        if (known?.some(function same (r) { return r.id === event.alarm.id }) === true) continue
        const atMs = Date.parse(event.alarm.raisedAt)
        const times = recent(key, atMs, current.withinMs) ?? []
        times.push({ atMs, id: event.alarm.id })
        // Raises learnt late (from a clear) go in their place: the window drops from the front.
        if (times.length > 1 && times[times.length - 2]!.atMs > atMs) times.sort(function byTime (x, y) { return x.atMs - y.atMs })
        if (times.length > keep) times.splice(0, times.length - keep)
        raises.set(key, times)
      }
    },
    isFlapping (alarm, atMs) {
      const current = rules()
      if (!current.enabled || alarm.flapping === true) return false
      return (recent(`${alarm.deviceId}\n${alarm.type}`, atMs, current.withinMs)?.length ?? 0) > current.raises
    },
    quietMs () { return rules().withinMs },
    shouldPush (event) {
      return event.alarm.flapping !== true || event.change === 'cleared' || event.change === 'acknowledged'
    },
  }
}
