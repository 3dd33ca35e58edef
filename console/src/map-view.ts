// Devices on a map and in a table. With tiles configured (MAP_TILE_URL) the map is Leaflet over
// them; without, an offline drawing from the devices' own coordinates (equirectangular SVG with
// district labels). Pins show each device's kind and its worst open alarm, and are redrawn in
// place when alarms change; the table below lists online state, last reading and open alarms.
import './map.css'
import { api, type Alarm, type Device } from './api.ts'
import { consoleSettings, type ConsoleSettings } from './console-settings.ts'
import { ago, h, humanize, svg } from './dom.ts'
import { PIN_SIZE, pinGraphic, pinLabel, pinStateOf, pinSvg, worstAlarm, type PinState } from './pins.ts'

export type PlacedDevice = Device & { location: { lat: number; lon: number } }

/** The pins of either map: updated in place, removed with the view. */
export interface PinLayer {
  update(devices: PlacedDevice[], alarms: Alarm[]): void
  destroy(): void
}

const PAD = 44
const KINDS = ['manhole', 'water-pipe', 'lamp-post'] as const

function placedOf (devices: Device[]): PlacedDevice[] {
  return devices.filter(function hasLocation (d) { return d.location !== undefined }) as PlacedDevice[]
}

/** The offline drawing; `widthPx`: the space it gets, so pins and labels keep their size on a phone. */
function svgMap (box: HTMLElement, placed: PlacedDevice[], alarms: Alarm[], widthPx: number): PinLayer {
  const W = Math.max(300, Math.min(1200, Math.round(widthPx) || 800))
  const H = Math.round(Math.max(280, Math.min(560, W * 0.6)))
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

  const links = new Map<string, { link: SVGElement; state: PinState; label: string }>()
  function drawPin (link: SVGElement, d: PlacedDevice, alarm: Alarm | undefined): void {
    const state = pinStateOf(d, alarm)
    const label = pinLabel(d, alarm)
    const known = links.get(d.id)
    if (known !== undefined && known.state === state && known.label === label) return
    link.setAttribute('aria-label', label)
    link.setAttribute('data-state', state)
    const graphic = pinGraphic(d.kind, state)
    graphic.setAttribute('transform', `translate(${(x(d.location.lon) - PIN_SIZE / 2).toFixed(1)} ${(y(d.location.lat) - PIN_SIZE / 2).toFixed(1)})`)
    link.replaceChildren(svg('title', {}, label), graphic)
    links.set(d.id, { link, state, label })
  }

  const pinGroup = svg('g', { class: 'pins' })
  const drawing = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'map', role: 'group', 'aria-label': 'Map of devices and alarms' },
    svg('rect', { x: 0, y: 0, width: W, height: H, class: 'map-bg' }),
    [...districts].map(function label ([name, c]) {
      return svg('text', { x: c.x / c.n, y: Math.max(18, c.top - 22), 'text-anchor': 'middle', class: 'district-label', 'aria-hidden': 'true' }, name)
    }),
    pinGroup,
    svg('line', { x1: PAD, x2: PAD + scalePx, y1: H - 14, y2: H - 14, class: 'scale' }),
    svg('text', { x: PAD + scalePx + 6, y: H - 10, class: 'axis' }, scaleKm < 1 ? `${Math.round(scaleKm * 1000)} m` : `${scaleKm} km`))

  function drawAll (devices: PlacedDevice[], openAlarms: Alarm[]): void {
    // Alarm pins last, so that they are drawn on top of their neighbours.
    const ordered = [...devices].sort(function alarmsOnTop (a, b) { return Number(worstAlarm(openAlarms, a.id) !== undefined) - Number(worstAlarm(openAlarms, b.id) !== undefined) })
    for (const d of ordered) {
      const link = links.get(d.id)?.link ?? svg('a', { href: `#/device/${encodeURIComponent(d.id)}`, 'data-device-id': d.id, 'data-kind': d.kind, class: `map-pin kind-${d.kind}` })
      drawPin(link, d, worstAlarm(openAlarms, d.id))
      pinGroup.append(link) // moves it to its place in the order
    }
  }
  drawAll(placed, alarms)
  box.replaceChildren(drawing)
  return {
    update (devices, openAlarms) {
      const ids = new Set(devices.map(function idOf (d) { return d.id }))
      for (const [id, entry] of links) if (!ids.has(id)) { entry.link.remove(); links.delete(id) }
      drawAll(devices, openAlarms)
    },
    destroy () {},
  }
}

function niceKm (km: number): number {
  const steps = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
  return steps.reduce(function closest (best, s) { return Math.abs(s - km) < Math.abs(best - km) ? s : best }, 1)
}

function legend (): HTMLElement {
  const item = function item (kind: string, state: PinState, text: string): HTMLElement {
    return h('li', {}, pinSvg(kind, state), text)
  }
  return h('ul', { class: 'map-legend', 'aria-label': 'Legend' },
    KINDS.map(function kindItem (kind) { return item(kind, 'online', humanize(kind)) }),
    item('manhole', 'offline', 'Offline (grey)'),
    item('manhole', 'alarm-critical', 'Open alarm: ring and “!”, coloured by severity'))
}

function tableBody (devices: Device[]): HTMLElement {
  return h('tbody', {}, devices.map(function row (d) {
    // Absent only for outside consumers, who never use the console.
    const openAlarms = d.openAlarms ?? 0
    return h('tr', { class: openAlarms > 0 ? 'has-alarm' : undefined },
      h('td', {}, h('a', { href: `#/device/${encodeURIComponent(d.id)}` }, d.id)),
      h('td', {}, humanize(d.kind)),
      h('td', { class: 'wide' }, d.district),
      h('td', {}, h('span', { class: `dot ${d.online ? 'on' : 'off'}` }), d.online ? 'online' : 'offline', openAlarms > 0 ? h('span', { class: 'count', title: 'open alarms' }, openAlarms) : null),
      h('td', { class: 'wide' }, d.lastSeen === null ? '—' : ago(d.lastSeen)))
  }))
}

function deviceTable (body: HTMLElement): HTMLElement {
  return h('table', { class: 'devices' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Device'), h('th', {}, 'Kind'), h('th', { class: 'wide' }, 'District'), h('th', {}, 'Status'), h('th', { class: 'wide' }, 'Last reading'))),
    body)
}

export function renderDevices (holder: HTMLElement, alarms: () => Alarm[]): { onAlarmsChanged: (changed?: Alarm) => void; close: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined
  let isClosed = false
  let pins: PinLayer | undefined
  let body: HTMLElement | undefined
  let summary: HTMLElement | undefined
  holder.append(h('p', { class: 'loading' }, 'Loading…'))

  function summaryText (devices: Device[]): string {
    return `${devices.length} devices · ${devices.filter(function isOnline (d) { return d.online }).length} online`
  }

  async function load (): Promise<void> {
    let devices: Device[]
    let settings: ConsoleSettings | undefined
    try {
      [devices, settings] = await Promise.all([api.devices(), consoleSettings()])
    } catch {
      holder.replaceChildren(h('div', { class: 'card empty' }, 'The gateway did not answer.'))
      return
    }
    if (isClosed) return
    const placed = placedOf(devices)
    const mapBox = h('div', { class: 'map-box' })
    body = tableBody(devices)
    summary = h('span', { class: 'muted' }, summaryText(devices))
    holder.replaceChildren(
      h('div', { class: 'toolbar' }, h('h2', {}, 'Devices'), summary),
      h('section', { class: 'card map-card', 'aria-label': 'Map' },
        placed.length === 0 ? h('p', { class: 'muted' }, 'No device has coordinates yet (citygw device add … --lat --lon).') : mapBox,
        legend()),
      h('section', { class: 'card', 'aria-label': 'Device list' }, deviceTable(body)))
    if (placed.length === 0) return
    const tileUrl = settings?.mapTileUrl ?? null
    if (settings !== undefined && tileUrl !== null) {
      mapBox.classList.add('tiles')
      const { leafletMap } = await import('./leaflet-map.ts')
      if (isClosed) return
      pins = leafletMap(mapBox, placed, alarms(), { ...settings, mapTileUrl: tileUrl })
    } else {
      pins = svgMap(mapBox, placed, alarms(), mapBox.clientWidth)
    }
  }

  /** Pins and table rows in place; the map and the rest of the page stay as they are. */
  async function refresh (): Promise<void> {
    try {
      const devices = await api.devices()
      if (isClosed) return
      pins?.update(placedOf(devices), alarms())
      if (body !== undefined) { const next = tableBody(devices); body.replaceWith(next); body = next }
      if (summary !== undefined) summary.textContent = summaryText(devices)
    } catch {
      // The next alarm change or a reload tries again; the page keeps what it shows.
    }
  }

  void load()
  return {
    // Bursts of alarm changes redraw once.
    onAlarmsChanged () {
      clearTimeout(timer)
      timer = setTimeout(function redraw () { void refresh() }, 300)
    },
    close () {
      isClosed = true
      clearTimeout(timer)
      pins?.destroy()
    },
  }
}
