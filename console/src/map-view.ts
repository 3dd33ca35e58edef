// Devices on a map drawn from their own coordinates (no tile service: the site has no network):
// an equirectangular SVG plot with district labels, alarms in their severity's colour, and the
// device table (online, last seen, open alarms) below it.
import { api, type Alarm, type Device } from './api.ts'
import { ago, h, humanize, svg } from './dom.ts'

const PAD = 44
const RANK: Record<string, number> = { critical: 0, major: 1, minor: 2, warning: 3 }

function worstAlarm (alarms: Alarm[], deviceId: string): Alarm | undefined {
  return alarms.filter(function isOwn (a) { return a.deviceId === deviceId }).sort(function worst (a, b) { return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) })[0]
}

/** `widthPx`: the space it gets, so pins and labels keep their size on a phone. */
function deviceMap (devices: Device[], alarms: Alarm[], widthPx: number): SVGElement | HTMLElement {
  const W = Math.max(300, Math.min(1200, Math.round(widthPx) || 800))
  const H = Math.round(Math.max(280, Math.min(560, W * 0.6)))
  const placed = devices.filter(function hasLocation (d) { return d.location !== undefined }) as (Device & { location: { lat: number; lon: number } })[]
  if (placed.length === 0) return h('p', { class: 'muted' }, 'No device has coordinates yet (citygw device add … --lat --lon).')
  const lats = placed.map(function lat (d) { return d.location.lat })
  const lons = placed.map(function lon (d) { return d.location.lon })
  const midLat = (Math.min(...lats) + Math.max(...lats)) / 2
  const kx = Math.cos((midLat * Math.PI) / 180) // metres per degree of longitude shrink with latitude
  const spanX = Math.max((Math.max(...lons) - Math.min(...lons)) * kx, 0.002)
  const spanY = Math.max(Math.max(...lats) - Math.min(...lats), 0.002)
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY)
  const cx = (Math.min(...lons) + Math.max(...lons)) / 2
  const cy = midLat
  const x = function xOf (lon: number): number { return W / 2 + (lon - cx) * kx * scale }
  const y = function yOf (lat: number): number { return H / 2 - (lat - cy) * scale }

  // Each district's name sits above its topmost device, centred on its devices.
  const districts = new Map<string, { x: number; top: number; n: number }>()
  for (const d of placed) {
    const entry = districts.get(d.district) ?? { x: 0, top: Infinity, n: 0 }
    districts.set(d.district, { x: entry.x + x(d.location.lon), top: Math.min(entry.top, y(d.location.lat)), n: entry.n + 1 })
  }
  // x and y are in degrees of latitude (longitude already shrunk by kx): 111.32 km each.
  const scaleKm = niceKm(((W - 2 * PAD) / scale) * 111.32 / 4)
  const scalePx = (scaleKm / 111.32) * scale

  return svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'map', role: 'img', 'aria-label': 'Map of devices and alarms' },
    svg('rect', { x: 0, y: 0, width: W, height: H, class: 'map-bg' }),
    [...districts].map(function label ([name, c]) {
      return svg('text', { x: c.x / c.n, y: Math.max(18, c.top - 22), 'text-anchor': 'middle', class: 'district-label' }, name)
    }),
    placed.map(function marker (d) {
      const alarm = worstAlarm(alarms, d.id)
      const cls = alarm === undefined ? (d.online ? 'pin online' : 'pin offline') : `pin alarm sev-${alarm.severity}`
      return svg('a', { href: `#/device/${encodeURIComponent(d.id)}`, 'data-device-id': d.id },
        svg('title', {}, `${d.id} (${humanize(d.kind)})${alarm === undefined ? '' : `: ${alarm.message}`}`),
        alarm === undefined ? null : svg('circle', { cx: x(d.location.lon), cy: y(d.location.lat), r: 14, class: `halo sev-${alarm.severity}` }),
        svg('circle', { cx: x(d.location.lon), cy: y(d.location.lat), r: alarm === undefined ? 6 : 8, class: cls }))
    }),
    svg('line', { x1: PAD, x2: PAD + scalePx, y1: H - 14, y2: H - 14, class: 'scale' }),
    svg('text', { x: PAD + scalePx + 6, y: H - 10, class: 'axis' }, scaleKm < 1 ? `${Math.round(scaleKm * 1000)} m` : `${scaleKm} km`))
}

function niceKm (km: number): number {
  const steps = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
  return steps.reduce(function closest (best, s) { return Math.abs(s - km) < Math.abs(best - km) ? s : best }, 1)
}

function deviceTable (devices: Device[]): HTMLElement {
  return h('table', { class: 'devices' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Device'), h('th', {}, 'Kind'), h('th', { class: 'wide' }, 'District'), h('th', {}, 'Status'), h('th', { class: 'wide' }, 'Last reading'))),
    h('tbody', {}, devices.map(function row (d) {
      return h('tr', { class: d.openAlarms > 0 ? 'has-alarm' : undefined },
        h('td', {}, h('a', { href: `#/device/${encodeURIComponent(d.id)}` }, d.id)),
        h('td', {}, humanize(d.kind)),
        h('td', { class: 'wide' }, d.district),
        h('td', {}, h('span', { class: `dot ${d.online ? 'on' : 'off'}` }), d.online ? 'online' : 'offline', d.openAlarms > 0 ? h('span', { class: 'count' }, d.openAlarms) : null),
        h('td', { class: 'wide' }, d.lastSeen === null ? '—' : ago(d.lastSeen)))
    })))
}

export function renderDevices (holder: HTMLElement, alarms: () => Alarm[]): { onAlarmsChanged: () => void; close: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined
  holder.append(h('p', { class: 'loading' }, 'Loading…'))
  async function load (): Promise<void> {
    try {
      const devices = await api.devices()
      const online = devices.filter(function isOnline (d) { return d.online }).length
      holder.replaceChildren(
        h('div', { class: 'toolbar' }, h('h2', {}, 'Devices'), h('span', { class: 'muted' }, `${devices.length} devices · ${online} online`)),
        h('section', { class: 'card map-card' }, deviceMap(devices, alarms(), holder.clientWidth - 48),
          h('p', { class: 'legend' }, h('span', { class: 'key online' }), 'online ', h('span', { class: 'key offline' }), 'offline ', h('span', { class: 'key alarm' }), 'open alarm')),
        h('section', { class: 'card' }, deviceTable(devices)))
    } catch {
      holder.replaceChildren(h('div', { class: 'card empty' }, 'The gateway did not answer.'))
    }
  }
  void load()
  return {
    // Bursts of alarm changes redraw once.
    onAlarmsChanged () {
      clearTimeout(timer)
      timer = setTimeout(function reload () { void load() }, 300)
    },
    close () { clearTimeout(timer) },
  }
}
