// A crew's view of the alarms: subscribes to its districts' `alarms/<district>/#` as a crew and turns each alarm message
// (README "For maintenance crews") into an AlarmEvent, counted by state and type.
// Retained messages are alarms that were open before we subscribed: reported, not counted as seen.
import type { Connection } from './connection.ts'
import { openConnection } from './connection.ts'

export interface AlarmEvent {
  readonly type: string
  readonly state: string
  readonly severity: string
  readonly deviceId: string
  readonly kind: string
  readonly district: string
  readonly value: unknown
  readonly threshold: unknown
  readonly message: string
  readonly raisedAt: string
  readonly isRetained: boolean
  /** Real time of receipt. */
  readonly receivedAt: number
}

export interface AlarmWatcher {
  readonly events: readonly AlarmEvent[]
  isConnected(): boolean
  close(): Promise<void>
}

function text (value: unknown): string {
  return typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value)
}

/** An alarm message's payload → AlarmEvent; undefined for acks, removals of retained messages and junk. */
export function parseAlarmMessage (topic: string, payload: Buffer, isRetained: boolean): AlarmEvent | undefined {
  if (payload.length === 0 || topic.endsWith('/ack')) return undefined
  let body: Record<string, unknown>
  try {
    body = JSON.parse(payload.toString('utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (typeof body !== 'object' || body === null) return undefined
  const parts = topic.split('/')
  return {
    type: text(body.type ?? parts[4]),
    state: text(body.state),
    severity: text(body.severity),
    deviceId: text(body.deviceId ?? parts[3]),
    kind: text(body.kind ?? parts[2]),
    district: text(body.district ?? parts[1]),
    value: body.value,
    threshold: body.threshold,
    message: text(body.message),
    raisedAt: text(body.raisedAt),
    isRetained,
    receivedAt: Date.now(),
  }
}

/** One readable line per alarm message, e.g. for the demo. */
export function formatAlarm (event: AlarmEvent): string {
  const verb = event.state === 'active' ? 'RAISED ' : event.state === 'cleared' ? 'CLEARED' : event.state.toUpperCase().padEnd(7)
  const detail = event.value === undefined ? '' : ` (value ${text(event.value)}, threshold ${text(event.threshold)})`
  return `${verb} ${event.severity.padEnd(8)} ${event.type} on ${event.deviceId} [${event.kind}, ${event.district}]${detail}: ${event.message}${event.isRetained ? ' (open before we subscribed)' : ''}`
}

/** Subscribes to `alarms/<district>/#` for each district (a crew with districts may not subscribe to `alarms/#`). */
export function watchAlarms (url: string, crew: { name: string; secret: string }, districts: readonly string[], onEvent?: (event: AlarmEvent) => void,
  mqttOptions?: Parameters<typeof openConnection>[0]['mqttOptions']): AlarmWatcher {
  const events: AlarmEvent[] = []
  const connection: Connection = openConnection({
    url,
    clientId: `${crew.name}-sim-${process.pid}-${Math.floor(Math.random() * 1e6)}`,
    username: crew.name,
    password: crew.secret,
    subscriptions: districts.map(function filterOf (d) { return `alarms/${d}/#` }),
    backoffBaseMs: 250,
    backoffMaxMs: 5000,
    ...(mqttOptions === undefined ? {} : { mqttOptions }),
    onMessage: function onAlarmMessage (topic, payload, isRetained) {
      const event = parseAlarmMessage(topic, payload, isRetained)
      if (event === undefined) return
      events.push(event)
      onEvent?.(event)
    },
  })
  return {
    events,
    isConnected () { return connection.isConnected() },
    close () { return connection.end() },
  }
}

/** Live alarm messages (not retained ones) by state, and the types seen per device. */
export function summariseAlarms (events: readonly AlarmEvent[]): { seen: number; raised: number; cleared: number; acknowledged: number; byDevice: Record<string, string[]> } {
  const live = events.filter(function isLive (e) { return !e.isRetained })
  const byDevice: Record<string, string[]> = {}
  for (const event of live) {
    const types = byDevice[event.deviceId] ??= []
    if (!types.includes(event.type)) types.push(event.type)
  }
  return {
    seen: live.length,
    raised: live.filter(function isActive (e) { return e.state === 'active' }).length,
    cleared: live.filter(function isCleared (e) { return e.state === 'cleared' }).length,
    acknowledged: live.filter(function isAcked (e) { return e.state === 'acknowledged' }).length,
    byDevice,
  }
}
