// The maintenance gate on its own, with a hand-driven clock: which windows cover which devices
// (device, district, group read from the registry), the stamp on alarm changes, what is pushed, and
// the end of a window reported once, also when it is ended early.
import { describe, expect, it } from 'vitest'
import type { AlarmEvent, AlarmRecord } from '../../../broker/alarms/alarm.ts'
import { createLogger } from '../../../broker/log.ts'
import { startMaintenanceGate } from '../../../broker/maintenance/gate.ts'
import type { MaintenanceWindow } from '../../../broker/maintenance/window.ts'
import { clock } from '../../helpers/clock.ts'

const log = createLogger('silent')
const T0 = Date.parse('2026-12-01T10:00:00.000Z')
const HOUR = 3_600_000

function win (id: string, scope: MaintenanceWindow['scope'], fromMs: number, toMs: number): MaintenanceWindow {
  return { id: id.padEnd(12, '0'), scope, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), reason: 'works', createdBy: 'cli', createdAt: new Date(T0).toISOString() }
}

function fakeStore (initial: MaintenanceWindow[]) {
  let windows = initial
  const listeners: (() => void)[] = []
  return {
    current: () => windows,
    onChange: (l: () => void) => { listeners.push(l) },
    set (next: MaintenanceWindow[]) { windows = next; for (const l of listeners) l() },
  }
}

function alarm (deviceId: string, district: string, raisedAtMs: number): AlarmRecord {
  const at = new Date(raisedAtMs).toISOString()
  return { id: `a-${deviceId}`, type: 'coverOpen', severity: 'critical', state: 'active', deviceId, kind: 'manhole', district, value: 1, threshold: 1, message: 'm', raisedAt: at, updatedAt: at }
}

describe('maintenance gate', () => {
  it('covers devices by id, district and registry group, only while running', () => {
    const c = clock(T0)
    const store = fakeStore([
      win('dev', { kind: 'device', name: 'mh-1' }, T0, T0 + HOUR),
      win('dist', { kind: 'district', name: 'harbour' }, T0 + HOUR, T0 + 2 * HOUR),
      win('grp', { kind: 'group', name: 'feeder-12' }, T0, T0 + HOUR),
    ])
    const groups: Record<string, string> = { 'lp-7': 'feeder-12' }
    const gate = startMaintenanceGate({ store, groupOf: (id) => groups[id], log, now: c.now })
    expect(gate.windowFor({ id: 'mh-1', district: 'north' }, T0)?.id).toBe('dev'.padEnd(12, '0'))
    expect(gate.isUnderMaintenance({ id: 'mh-2', district: 'north' }, T0)).toBe(false)
    expect(gate.isUnderMaintenance({ id: 'lp-7', district: 'north' }, T0)).toBe(true)
    expect(gate.isUnderMaintenance({ id: 'lp-8', district: 'north' }, T0)).toBe(false)
    expect(gate.isUnderMaintenance({ id: 'mh-9', district: 'harbour' }, T0)).toBe(false)
    expect(gate.isUnderMaintenance({ id: 'mh-9', district: 'harbour' }, T0 + HOUR)).toBe(true)
    expect(gate.isUnderMaintenance({ id: 'mh-1', district: 'north' }, T0 + HOUR)).toBe(false)
    gate.close()
  })

  it('stamps changes made under a window, holds back raises and escalations, lets through the clear of an alarm crews had', () => {
    const c = clock(T0)
    const w = win('dev', { kind: 'device', name: 'mh-1' }, T0, T0 + HOUR)
    const gate = startMaintenanceGate({ store: fakeStore([w]), groupOf: () => undefined, log, now: c.now })
    const inWindow: AlarmEvent = { change: 'raised', alarm: alarm('mh-1', 'north', T0 + 1000) }
    const other: AlarmEvent = { change: 'raised', alarm: alarm('mh-2', 'north', T0 + 1000) }
    gate.stamp([inWindow, other], T0 + 1000)
    expect(inWindow.alarm.maintenance).toBe(w.id)
    expect(other.alarm.maintenance).toBeUndefined()
    expect(gate.shouldPush(inWindow)).toBe(false)
    expect(gate.shouldPush({ change: 'escalated', alarm: inWindow.alarm })).toBe(false)
    expect(gate.shouldPush({ change: 'cleared', alarm: inWindow.alarm })).toBe(false)
    expect(gate.shouldPush(other)).toBe(true)

    const before: AlarmEvent = { change: 'cleared', alarm: alarm('mh-1', 'north', T0 - 1000) }
    gate.stamp([before], T0 + 2000)
    expect(before.alarm.maintenance).toBe(w.id)
    expect(gate.shouldPush(before)).toBe(true)

    // After the window a change carries no stamp and goes out.
    const later: AlarmEvent = { change: 'acknowledged', alarm: { ...inWindow.alarm } }
    gate.stamp([later], T0 + HOUR)
    expect(later.alarm.maintenance).toBeUndefined()
    expect(gate.shouldPush(later)).toBe(true)
    gate.close()
  })

  it('reports a window once when its time is up, and at once when it is ended early', async () => {
    const start = Date.now()
    const now = { ms: start }
    const short = win('short', { kind: 'device', name: 'mh-1' }, start, start + 50)
    const long = win('long', { kind: 'district', name: 'north' }, start, start + HOUR)
    const store = fakeStore([short, long])
    const gate = startMaintenanceGate({ store, groupOf: () => undefined, log, now: () => now.ms })
    const ended: string[] = []
    gate.onEnded((windows) => { ended.push(...windows.map((w) => w.id)) })
    now.ms = start + 60
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(ended).toEqual([short.id])
    store.set([short, { ...long, to: new Date(start + 61).toISOString(), endedBy: 'ops' }])
    now.ms = start + 61
    store.set([short, { ...long, to: new Date(start + 61).toISOString(), endedBy: 'ops' }])
    expect(ended).toEqual([short.id, long.id])
    gate.close()
  })
})
