// The one place that decides what a maintenance window does to alarms. While a window covers a
// device, each change of its alarms carries `maintenance: <window id>` and is recorded as usual,
// but raises and escalations are not pushed to crews, webhooks, escalation or mail; deviceOffline
// is not raised. Acknowledgements and clears of an alarm crews already had (raised before the
// window started) still go out, so no phone keeps a stale alarm. When a window ends, the listeners
// of onEnded deliver what is still open.
import type { AlarmEvent, AlarmRecord } from '../alarms/alarm.ts'
import type { Logger } from '../log.ts'
import type { MaintenanceStore } from './store.ts'
import { covers, type CoveredDevice, type MaintenanceWindow } from './window.ts'

/** Longest single wait of the boundary timer; it re-arms (timers beyond 2^31 ms fire at once). */
const MAX_TIMER_MS = 60 * 60 * 1000

/** What the gate needs to know of a device: id and district; the group it looks up itself. */
export interface GateDevice {
  readonly id: string
  readonly district: string
}

export interface MaintenanceGate {
  /** The running window covering the device now, if any. */
  windowFor(device: GateDevice, nowMs: number): MaintenanceWindow | undefined
  isUnderMaintenance(device: GateDevice, nowMs: number): boolean
  /** Whether the window's scope takes in the device (at any time). */
  coveredBy(window: MaintenanceWindow, device: GateDevice): boolean
  /** Sets (or removes) each event's `maintenance` to the window covering its device now. */
  stamp(events: readonly AlarmEvent[], nowMs: number): void
  /** Whether a change goes to crews (MQTT) and other channels (webhooks, escalation, mail). */
  shouldPush(event: AlarmEvent): boolean
  /** Called with the windows that stopped running (their time came, or they were ended). */
  onEnded(listener: (windows: readonly MaintenanceWindow[]) => void): void
  close(): void
}

export interface MaintenanceGateOptions {
  store: Pick<MaintenanceStore, 'current' | 'onChange'>
  /** The device's group in the registry, when it has one. */
  groupOf(deviceId: string): string | undefined
  log: Logger
  now?: () => number
}

interface TimedWindow {
  readonly window: MaintenanceWindow
  readonly fromMs: number
  readonly toMs: number
}

export function startMaintenanceGate (options: MaintenanceGateOptions): MaintenanceGate {
  const log = options.log.child({ module: 'maintenance' })
  const now = options.now ?? Date.now
  const endedListeners: ((windows: readonly MaintenanceWindow[]) => void)[] = []
  /** Windows that have not ended, with their times parsed once. */
  let timed: TimedWindow[] = []
  let hasGroupWindow = false
  /** Ids of the windows running at the last look, to tell which ended. */
  let running = new Map<string, MaintenanceWindow>()
  let timer: NodeJS.Timeout | undefined
  let isClosed = false

  function load (): void {
    const nowMs = now()
    timed = options.store.current()
      .map(function parse (window) { return { window, fromMs: Date.parse(window.from), toMs: Date.parse(window.to) } })
      .filter(function notEnded (t) { return t.toMs > nowMs })
    hasGroupWindow = timed.some(function isGroup (t) { return t.window.scope.kind === 'group' })
  }

  /** Notes which windows started and ended, tells about the ended ones, and waits for the next boundary. */
  function look (): void {
    if (isClosed) return
    clearTimeout(timer)
    const nowMs = now()
    const next = new Map<string, MaintenanceWindow>()
    let nextBoundaryMs = Number.POSITIVE_INFINITY
    for (const t of timed) {
      if (t.fromMs <= nowMs && nowMs < t.toMs) next.set(t.window.id, t.window)
      if (t.fromMs > nowMs) nextBoundaryMs = Math.min(nextBoundaryMs, t.fromMs)
      if (t.toMs > nowMs) nextBoundaryMs = Math.min(nextBoundaryMs, t.toMs)
    }
    const ended: MaintenanceWindow[] = []
    for (const [id, window] of running) if (!next.has(id)) ended.push(window)
    for (const [id, window] of next) {
      if (!running.has(id)) log.info({ maintenanceId: id, scope: window.scope, to: window.to, reason: window.reason }, 'maintenance window started')
    }
    running = next
    for (const window of ended) log.info({ maintenanceId: window.id, scope: window.scope, endedBy: window.endedBy }, 'maintenance window ended')
    if (ended.length > 0) {
      for (const listener of endedListeners) {
        try {
          listener(ended)
        } catch (err) {
          log.error({ err }, 'maintenance end listener failed')
        }
      }
    }
    if (Number.isFinite(nextBoundaryMs)) {
      timer = setTimeout(function boundary () { load(); look() }, Math.min(Math.max(nextBoundaryMs - nowMs, 1), MAX_TIMER_MS))
      timer.unref()
    }
  }

  function windowFor (device: GateDevice, nowMs: number): MaintenanceWindow | undefined {
    if (timed.length === 0) return undefined
    const subject: CoveredDevice = { id: device.id, district: device.district, group: hasGroupWindow ? options.groupOf(device.id) : undefined }
    for (const t of timed) {
      if (t.fromMs <= nowMs && nowMs < t.toMs && covers(t.window, subject)) return t.window
    }
    return undefined
  }

  /** The window by id, also an ended one the store still keeps. */
  function windowById (id: string): MaintenanceWindow | undefined {
    return options.store.current().find(function byId (w) { return w.id === id })
  }

  load()
  look()
  options.store.onChange(function windowsChanged () { load(); look() })

  return {
    windowFor,
    isUnderMaintenance (device, nowMs) { return windowFor(device, nowMs) !== undefined },
    coveredBy (window, device) {
      return covers(window, { id: device.id, district: device.district, group: window.scope.kind === 'group' ? options.groupOf(device.id) : undefined })
    },
    stamp (events, nowMs) {
      if (timed.length === 0 && !events.some(hasStamp)) return
      for (const event of events) {
        const window = windowFor({ id: event.alarm.deviceId, district: event.alarm.district }, nowMs)
        // The event's record is the engine's open entry: stamping it here keeps the id on the
        // alarm the API lists and alarms.json keeps, without a second copy of every record.
        const alarm: AlarmRecord = event.alarm
        if (window !== undefined) alarm.maintenance = window.id
        else if (alarm.maintenance !== undefined) delete alarm.maintenance
      }
    },
    shouldPush (event) {
      const id = event.alarm.maintenance
      if (id === undefined) return true
      if (event.change === 'raised' || event.change === 'escalated') return false
      // An acknowledgement or clear: crews already have the alarm when it was raised before the window.
      const window = windowById(id)
      return window !== undefined && Date.parse(event.alarm.raisedAt) < Date.parse(window.from)
    },
    onEnded (listener) { endedListeners.push(listener) },
    close () {
      isClosed = true
      clearTimeout(timer)
    },
  }
}

function hasStamp (event: AlarmEvent): boolean {
  return event.alarm.maintenance !== undefined
}
