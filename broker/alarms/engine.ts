// Stage 8, the alarm engine: accepted readings (and the passing of time) in, alarm state changes
// out. A pure state machine — no I/O, no clock of its own — so it can be persisted, replayed and
// tested; durations and rates follow the readings' own timestamps, offline detection the wall clock.
import { randomUUID } from 'node:crypto'
import { DEVICE_OFFLINE, SEVERITY_RANK, type CompiledRule, type FieldHistory, type ReadingView, type Severity } from '../../devices/define-rule.ts'
import type { AlarmDevice, AlarmEvent, AlarmRecord, DeviceMemory, EngineSnapshot, OpenAlarm } from './alarm.ts'
import { createHistory, type History } from './history.ts'
import type { FlappingJudge } from './flapping.ts'

/** Where the engine gets the rules in force for one device (defaults merged with a rules file). */
export interface RuleSource {
  rulesFor(device: AlarmDevice): readonly CompiledRule[]
  /** Silence after which `deviceOffline` is raised, ms; undefined = not watched. */
  offlineAfterMs(device: AlarmDevice): number | undefined
  /** A device whose silence is expected now (a maintenance window): deviceOffline is not raised. */
  isOfflineExempt?(device: AlarmDevice, nowMs: number): boolean
  /** Time an alarm of this severity has to be acknowledged, ms; undefined = no deadline (escalation.ts). */
  ackDeadlineMs?(device: AlarmDevice, severity: Severity): number | undefined
  /** Alarms raised and cleared too often are kept open instead of clearing (flapping.ts). */
  flappingJudge?: FlappingJudge | undefined
}

export type AckOutcome =
  | { ok: true; event: AlarmEvent }
  | { ok: false; reason: 'not_found' | 'already_acknowledged' }

export interface AlarmEngine {
  /** Evaluates a device's accepted readings (a batch, any order); readings older than the newest seen only mark the device alive. */
  evaluate(device: AlarmDevice, readings: readonly ReadingView[], nowMs: number): AlarmEvent[]
  acknowledge(crew: string, deviceId: string, type: string, note: string | undefined, nowMs: number): AckOutcome
  /**
   * Raises `deviceOffline` for watched devices silent for too long. `slackMs` is added to every
   * device's limit: where last-seen times arrive late (from other nodes) they are that much old.
   */
  checkOffline(nowMs: number, slackMs?: number): AlarmEvent[]
  /** After a rules change: clears alarms whose rule is no longer in force. */
  reconcile(nowMs: number): AlarmEvent[]
  /**
   * Takes another node's version of the alarm of a device and type (cluster): it becomes the open
   * entry, or there is none when `entry` is undefined or cleared. Rule progress is left as it is.
   */
  adopt(deviceId: string, type: string, entry: OpenAlarm | undefined): void
  /**
   * An active alarm passed its acknowledgement deadline (escalation.ts): it is counted up to
   * `escalation` with the next deadline. Undefined when that alarm (by id) is no longer open and
   * active, or already got that far.
   */
  overdue(alarmId: string, deviceId: string, type: string, escalation: number, nextDueMs: number, nowMs: number): AlarmEvent | undefined
  /** Another node heard from the device at `atMs` (cluster): it counts as seen for the offline check. */
  markSeen(device: AlarmDevice, atMs: number): void
  openAlarms(): AlarmRecord[]
  /** Open alarms with what they captured at raise: what DATA_DIR/alarms.json holds. */
  openEntries(): OpenAlarm[]
  /** Each known device's newest reading time and last-seen time, one at a time (there may be 50,000). */
  deviceMemory(): Generator<DeviceMemory>
  /** Everything a restart needs (tests; the gateway saves the two parts on their own schedules). */
  snapshot(): EngineSnapshot
}

/**
 * Progress of one rule on one device: since when (reading time; NaN = not holding) and for how
 * many readings each trigger holds. Plain number arrays (no holes, no undefined): read and reset
 * for every rule of every reading, and small, as every device keeps one per rule.
 */
interface RuleProgress {
  since: number[]
  count: number[]
  clearSince: number | undefined
  /** Consecutive judged readings the clear condition has held for (`clearForReadings`). */
  clearCount: number
}

interface DeviceState {
  device: AlarmDevice
  newestTsMs: number | undefined
  lastSeenMs: number | undefined
  history: History
  /** Progress per rule, indexed like `progressRules` (the rule set in force when it was made). */
  progress: (RuleProgress | undefined)[]
  progressRules: readonly CompiledRule[] | undefined
}

export function createAlarmEngine (rules: RuleSource, initial?: EngineSnapshot, newId: () => string = randomUUID): AlarmEngine {
  const devices = new Map<string, DeviceState>()
  const open = new Map<string, OpenAlarm>() // key: deviceId + '\n' + type
  const openPerDevice = new Map<string, number>()
  /** The wall clock of the evaluation under way: deadlines run from when the gateway raised an alarm, not from a (late) reading's time. */
  let wallNowMs = 0
  function countOpen (deviceId: string, delta: number): void {
    const next = (openPerDevice.get(deviceId) ?? 0) + delta
    if (next > 0) openPerDevice.set(deviceId, next)
    else openPerDevice.delete(deviceId)
  }

  for (const entry of initial?.devices ?? []) {
    devices.set(entry.device.id, { device: entry.device, newestTsMs: entry.newestTsMs, lastSeenMs: entry.lastSeenMs, history: createHistory(), progress: [], progressRules: undefined })
  }
  for (const entry of initial?.alarms ?? []) {
    open.set(keyOf(entry.alarm.deviceId, entry.alarm.type), entry)
    countOpen(entry.alarm.deviceId, 1)
  }

  function * deviceMemory (): Generator<DeviceMemory> {
    for (const state of devices.values()) yield { device: state.device, newestTsMs: state.newestTsMs, lastSeenMs: state.lastSeenMs }
  }

  function stateOf (device: AlarmDevice): DeviceState {
    let state = devices.get(device.id)
    if (state === undefined) {
      state = { device, newestTsMs: undefined, lastSeenMs: undefined, history: createHistory(), progress: [], progressRules: undefined }
      devices.set(device.id, state)
    }
    state.device = device // district or location may have changed in the registry
    return state
  }

  function raise (device: AlarmDevice, type: string, severity: Severity, value: number, threshold: number, message: string, atMs: number, captured: Record<string, number>): AlarmEvent {
    const at = new Date(atMs).toISOString()
    const alarm: AlarmRecord = {
      id: newId(), type, severity, state: 'active', deviceId: device.id, kind: device.kind, district: device.district,
      ...(device.location === undefined ? {} : { location: device.location }),
      value, threshold, message, raisedAt: at, updatedAt: at,
      ...ackDueOf(device, severity),
    }
    open.set(keyOf(device.id, type), { alarm, captured })
    countOpen(device.id, 1)
    return { change: 'raised', alarm, captured }
  }

  /** The acknowledgement deadline of an alarm made active now, as record fields. */
  function ackDueOf (device: AlarmDevice, severity: Severity): { ackDueAt?: string } {
    const deadlineMs = rules.ackDeadlineMs?.(device, severity)
    return deadlineMs === undefined ? {} : { ackDueAt: new Date(wallNowMs + deadlineMs).toISOString() }
  }

  function clear (entry: OpenAlarm, value: number, message: string, atMs: number): AlarmEvent {
    open.delete(keyOf(entry.alarm.deviceId, entry.alarm.type))
    countOpen(entry.alarm.deviceId, -1)
    const at = new Date(atMs).toISOString()
    return { change: 'cleared', alarm: { ...entry.alarm, state: 'cleared', value, message, updatedAt: at, clearedAt: at } }
  }

  /**
   * Progress is kept in an array by rule position (no lookup by type for every rule of every
   * reading); when the rule set in force changed, what a rule of the same type and shape had
   * made so far carries over.
   */
  function alignProgress (state: DeviceState, rulesInForce: readonly CompiledRule[]): void {
    if (state.progressRules === rulesInForce) return
    const before = state.progressRules ?? []
    state.progress = rulesInForce.map(function carry (rule) {
      const index = before.findIndex(function sameRule (old) { return old.type === rule.type && old.triggers.length === rule.triggers.length })
      return index < 0 ? undefined : state.progress[index]
    })
    state.progressRules = rulesInForce
  }

  function evaluateRule (state: DeviceState, rule: CompiledRule, ruleIndex: number, hasOpenAlarm: boolean, reading: ReadingView, events: AlarmEvent[]): void {
    // Plain loops, no closures: this runs for every rule of every reading (measured with
    // `npm run bench --profile`: per-call closures cost more than the rules themselves under tsx).
    const { fields, triggers } = rule
    const history: FieldHistory = state.history
    if (rule.takes === undefined) {
      let carriesField = false
      for (let f = 0; f < fields.length && !carriesField; f++) carriesField = reading.values[fields[f]!] !== undefined
      if (!carriesField) return
    } else if (!rule.takes(reading, history)) {
      return
    }
    let progress = state.progress[ruleIndex]
    if (progress === undefined) {
      progress = { since: triggers.map(notHolding), count: triggers.map(noReadings), clearSince: undefined, clearCount: 0 }
      state.progress[ruleIndex] = progress
    }
    let bestIndex = -1
    let anyCondition = false
    for (let index = 0; index < triggers.length; index++) {
      const trigger = triggers[index]!
      if (!trigger.when(reading, history)) {
        if (progress.count[index] !== 0) {
          progress.since[index] = Number.NaN
          progress.count[index] = 0
        }
        continue
      }
      anyCondition = true
      const held = progress.since[index]!
      const since = Number.isNaN(held) ? reading.tsMs : held
      progress.since[index] = since
      const count = progress.count[index]! + 1
      progress.count[index] = count
      const isHeld = (trigger.forSec === undefined || reading.tsMs - since >= trigger.forSec * 1000) &&
        (trigger.forReadings === undefined || count >= trigger.forReadings)
      if (isHeld && (bestIndex < 0 || SEVERITY_RANK[trigger.severity] > SEVERITY_RANK[rule.triggers[bestIndex]!.severity])) bestIndex = index
    }
    const best: { index: number; severity: Severity } | undefined = bestIndex < 0 ? undefined : { index: bestIndex, severity: rule.triggers[bestIndex]!.severity }

    if (best === undefined && !hasOpenAlarm) return // nothing to raise, nothing to clear
    const current = open.get(keyOf(state.device.id, rule.type))
    if (current === undefined) {
      if (best === undefined) return
      const trigger = rule.triggers[best.index]!
      const value = tidy(trigger.value(reading, history))
      const threshold = trigger.threshold(reading)
      const captured = trigger.capture?.(reading, history) ?? {}
      events.push(raise(state.device, rule.type, best.severity, value, threshold, rule.describe(best.severity, value, threshold, captured), reading.tsMs, captured))
      progress.clearSince = undefined
      progress.clearCount = 0
      return
    }

    if (best !== undefined && SEVERITY_RANK[best.severity] > SEVERITY_RANK[current.alarm.severity]) {
      // Escalation changes the open alarm in place and asks for attention again (back to active).
      const trigger = rule.triggers[best.index]!
      const value = tidy(trigger.value(reading, history))
      const threshold = trigger.threshold(reading)
      current.alarm = { ...current.alarm, severity: best.severity, state: 'active', value, threshold, message: rule.describe(best.severity, value, threshold, current.captured), updatedAt: new Date(reading.tsMs).toISOString(), ...ackDueOf(state.device, best.severity) }
      events.push({ change: 'escalated', alarm: current.alarm })
    }

    const mayClear = rule.clear === undefined ? !anyCondition : rule.clear(reading, history, current.captured)
    if (!mayClear) {
      progress.clearSince = undefined
      progress.clearCount = 0
      return
    }
    progress.clearSince ??= reading.tsMs
    progress.clearCount++
    // A flapping alarm's clear condition must also hold for the flapping window before it clears.
    const clearForMs = current.alarm.flapping === true ? Math.max((rule.clearForSec ?? 0) * 1000, rules.flappingJudge?.quietMs() ?? 0) : (rule.clearForSec ?? 0) * 1000
    if (reading.tsMs - progress.clearSince >= clearForMs && progress.clearCount >= (rule.clearForReadings ?? 0)) {
      if (rules.flappingJudge?.isFlapping(current.alarm, reading.tsMs) === true) {
        // Kept open; clearSince stays, so the quiet period runs from this reading.
        current.alarm = { ...current.alarm, flapping: true, updatedAt: new Date(reading.tsMs).toISOString() }
        events.push({ change: 'flapping', alarm: current.alarm })
        return
      }
      // The switch back is a change of its own, recorded just ahead of the clear that ends it.
      if (current.alarm.flapping === true) events.push({ change: 'unflapping', alarm: { ...current.alarm, updatedAt: new Date(reading.tsMs).toISOString() } })
      const value = tidy(rule.clearValue?.(reading, history, current.captured) ?? rule.triggers[0]?.value(reading, history) ?? Number.NaN)
      events.push(clear(current, value, rule.describeClear?.(value, current.captured) ?? `The ${rule.type} condition has cleared.`, reading.tsMs))
      progress.clearSince = undefined
      progress.clearCount = 0
    }
  }

  return {
    evaluate (device, readings, nowMs) {
      const state = stateOf(device)
      const events: AlarmEvent[] = []
      wallNowMs = nowMs
      const offline = openPerDevice.has(device.id) ? open.get(keyOf(device.id, DEVICE_OFFLINE.type)) : undefined
      if (offline !== undefined) {
        const silentSec = Math.round((nowMs - (state.lastSeenMs ?? nowMs)) / 1000)
        events.push(clear(offline, silentSec, `${device.id} is reporting again after ${formatSpan(silentSec)}.`, nowMs))
      }
      state.lastSeenMs = nowMs
      const rulesInForce = rules.rulesFor(device)
      const ordered = readings.length === 1 ? readings : [...readings].sort(byTime)
      alignProgress(state, rulesInForce)
      // Clock rules compare the newest reading of a message with its receipt (nowMs: evaluated on arrival).
      if (ordered.length > 0) state.history.noteMessage(nowMs, ordered[ordered.length - 1]!.tsMs)
      for (const reading of ordered) {
        // Late readings are stored, but judging them would make alarms flap; a reading with the
        // newest ts again is a resend (QoS 1 duplicate) and must not count twice.
        if (state.newestTsMs !== undefined && reading.tsMs <= state.newestTsMs) continue
        state.newestTsMs = reading.tsMs
        state.history.record(reading, rulesInForce)
        // Looked up once per reading: a rule's own alarm only opens or closes inside its own evaluateRule.
        const hasOpenAlarm = openPerDevice.has(device.id)
        for (let r = 0; r < rulesInForce.length; r++) evaluateRule(state, rulesInForce[r] as CompiledRule, r, hasOpenAlarm, reading, events)
      }
      return events
    },

    acknowledge (crew, deviceId, type, note, nowMs) {
      const entry = open.get(keyOf(deviceId, type))
      if (entry === undefined) return { ok: false, reason: 'not_found' }
      if (entry.alarm.state === 'acknowledged') return { ok: false, reason: 'already_acknowledged' }
      const at = new Date(nowMs).toISOString()
      // A note of an earlier acknowledgement (before an escalation) does not carry over to this one.
      // Acknowledged: no deadline is running any more.
      const { ackNote: _earlierNote, ackDueAt: _deadline, ...alarm } = entry.alarm
      entry.alarm = { ...alarm, state: 'acknowledged', ackedBy: crew, ackedAt: at, ...(note === undefined ? {} : { ackNote: note }), updatedAt: at }
      return { ok: true, event: { change: 'acknowledged', alarm: entry.alarm } }
    },

    checkOffline (nowMs, slackMs = 0) {
      const events: AlarmEvent[] = []
      wallNowMs = nowMs
      for (const state of devices.values()) {
        if (state.lastSeenMs === undefined || open.has(keyOf(state.device.id, DEVICE_OFFLINE.type))) continue
        const limitMs = rules.offlineAfterMs(state.device)
        if (limitMs === undefined || nowMs - state.lastSeenMs <= limitMs + slackMs) continue
        if (rules.isOfflineExempt?.(state.device, nowMs) === true) continue
        const silentSec = Math.round((nowMs - state.lastSeenMs) / 1000)
        const message = `No reading from ${state.device.id} for ${formatSpan(silentSec)} (alarm after ${formatSpan(limitMs / 1000)}).`
        events.push(raise(state.device, DEVICE_OFFLINE.type, DEVICE_OFFLINE.severity, silentSec, Math.round(limitMs / 1000), message, nowMs, {}))
      }
      return events
    },

    reconcile (nowMs) {
      const events: AlarmEvent[] = []
      for (const entry of [...open.values()]) {
        const state = devices.get(entry.alarm.deviceId)
        if (state === undefined) continue
        const isOffline = entry.alarm.type === DEVICE_OFFLINE.type
        const inForce = isOffline
          ? rules.offlineAfterMs(state.device) !== undefined
          : rules.rulesFor(state.device).some(function sameType (rule) { return rule.type === entry.alarm.type })
        if (!inForce) events.push(clear(entry, entry.alarm.value, `The ${entry.alarm.type} rule was switched off.`, nowMs))
      }
      return events
    },

    adopt (deviceId, type, entry) {
      const key = keyOf(deviceId, type)
      const wasOpen = open.has(key)
      if (entry === undefined || entry.alarm.state === 'cleared') {
        if (!wasOpen) return
        open.delete(key)
        countOpen(deviceId, -1)
        return
      }
      // A wrapper of its own: acknowledge and escalation replace `alarm` on the entry in place.
      open.set(key, { alarm: entry.alarm, captured: entry.captured })
      if (!wasOpen) countOpen(deviceId, 1)
    },

    overdue (alarmId, deviceId, type, escalation, nextDueMs, nowMs) {
      const entry = open.get(keyOf(deviceId, type))
      if (entry === undefined || entry.alarm.id !== alarmId || entry.alarm.state !== 'active' || (entry.alarm.escalation ?? 0) >= escalation) return undefined
      entry.alarm = { ...entry.alarm, escalation, ackDueAt: new Date(nextDueMs).toISOString(), updatedAt: new Date(nowMs).toISOString() }
      return { change: 'overdue', alarm: entry.alarm }
    },

    markSeen (device, atMs) {
      const state = stateOf(device)
      if (state.lastSeenMs === undefined || atMs > state.lastSeenMs) state.lastSeenMs = atMs
    },

    openAlarms () {
      return [...open.values()].map(function record (entry) { return entry.alarm })
    },

    openEntries () {
      return [...open.values()]
    },

    deviceMemory,

    snapshot () {
      return { alarms: [...open.values()], devices: [...deviceMemory()] }
    },
  }
}

function notHolding (): number {
  return Number.NaN
}

function noReadings (): number {
  return 0
}

function byTime (a: ReadingView, b: ReadingView): number {
  return a.tsMs - b.tsMs
}

function keyOf (deviceId: string, type: string): string {
  return `${deviceId}\n${type}`
}

function formatSpan (seconds: number): string {
  if (seconds >= 7200) return `${Math.round(seconds / 360) / 10} h`
  if (seconds >= 120) return `${Math.round(seconds / 6) / 10} min`
  return `${Math.round(seconds)} s`
}

/** Drops float noise (86.09999999999997 → 86.1) from values crews read. */
function tidy (value: number): number {
  return Number.isFinite(value) ? Math.round(value * 1e6) / 1e6 : value
}
