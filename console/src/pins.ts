// Map pins as inline SVG, shared by the Leaflet map and the offline drawing: one shape per kind
// (manhole: round cover, water pipe: drop, lamp post: square with a lamp), filled by state
// (severity of the worst open alarm, online, offline), and for an alarm a ring and a "!" badge so
// that the state does not rest on colour alone. Drawn in a 32 × 32 box centred on the place.
import type { Alarm, Device } from './api.ts'
import { humanize, svg } from './dom.ts'

export const PIN_SIZE = 32
const RANK: Record<string, number> = { critical: 0, major: 1, minor: 2, warning: 3 }

export type PinState = 'online' | 'offline' | `alarm-${Alarm['severity']}`

export function worstAlarm (alarms: Alarm[], deviceId: string): Alarm | undefined {
  return alarms.filter(function isOwn (a) { return a.deviceId === deviceId })
    .sort(function worst (a, b) { return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) })[0]
}

export function pinStateOf (device: Pick<Device, 'online'>, alarm: Alarm | undefined): PinState {
  if (alarm !== undefined) return `alarm-${alarm.severity}`
  return device.online ? 'online' : 'offline'
}

/** What a screen reader says for the pin: "mh-canal-1, manhole, critical alarm: Cover open…". */
export function pinLabel (device: Pick<Device, 'id' | 'kind' | 'online'>, alarm: Alarm | undefined): string {
  const kind = humanize(device.kind).toLowerCase()
  if (alarm !== undefined) return `${device.id}, ${kind}, ${alarm.severity} alarm: ${alarm.message}`
  return `${device.id}, ${kind}, ${device.online ? 'online' : 'offline'}`
}

function kindShape (kind: string): SVGElement[] {
  switch (kind) {
    case 'water-pipe':
      return [
        svg('path', { class: 'pin-body', d: 'M16 2 C13 7 4 13 4 19.5 a12 12 0 0 0 24 0 C28 13 19 7 16 2 Z' }),
        svg('path', { class: 'pin-glyph', d: 'M9.5 20.5 q3.25 -3 6.5 0 t6.5 0' }),
      ]
    case 'lamp-post':
      return [
        svg('rect', { class: 'pin-body', x: 4, y: 4, width: 24, height: 24, rx: 5 }),
        svg('path', { class: 'pin-glyph', d: 'M12.5 14 a3.5 3.5 0 1 1 7 0 q0 2 -1.5 3.5 v2 h-4 v-2 q-1.5 -1.5 -1.5 -3.5 Z M14 22.5 h4' }),
      ]
    default: // manhole, and any kind without a shape of its own
      return [
        svg('circle', { class: 'pin-body', cx: 16, cy: 16, r: 12 }),
        svg('path', { class: 'pin-glyph', d: 'M9.5 12.5 h13 M8.5 16 h15 M9.5 19.5 h13' }),
      ]
  }
}

/** The pin's drawing, inside a `<g>` of 32 × 32 units. */
export function pinGraphic (kind: string, state: PinState): SVGElement {
  const isAlarm = state.startsWith('alarm-')
  return svg('g', { class: `pin kind-${kind} pin-${state}${isAlarm ? ` alarm sev-${state.slice('alarm-'.length)}` : ''}` },
    // The whole 32 × 32 box takes taps, whatever the shape.
    svg('rect', { class: 'pin-hit', x: 0, y: 0, width: 32, height: 32 }),
    isAlarm ? svg('circle', { class: 'pin-ring', cx: 16, cy: 16, r: 15 }) : null,
    kindShape(kind),
    isAlarm
      ? svg('g', { class: 'pin-badge' }, svg('circle', { cx: 26, cy: 6, r: 5.5 }), svg('path', { d: 'M26 3 v3.6 M26 8.4 v0.1' }))
      : null)
}

/** A standalone 32 × 32 px SVG of the pin (Leaflet icons, the legend). */
export function pinSvg (kind: string, state: PinState): SVGElement {
  return svg('svg', { class: 'pin-svg', viewBox: `0 0 ${PIN_SIZE} ${PIN_SIZE}`, width: PIN_SIZE, height: PIN_SIZE, 'aria-hidden': 'true', focusable: 'false' }, pinGraphic(kind, state))
}
