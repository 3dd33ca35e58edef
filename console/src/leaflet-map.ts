// Devices on a Leaflet map over the gateway's configured tiles (MAP_TILE_URL): one pin per located
// device, a popup with its alarm, its page and navigate links, the view fitted to the devices.
// Pins are updated in place when alarms change; the map itself is built once.
import * as L from 'leaflet'
import 'leaflet/dist/leaflet.css'
import type { Alarm } from './api.ts'
import type { ConsoleSettings } from './console-settings.ts'
import { h, humanize } from './dom.ts'
import { navigateLinks } from './navigate.ts'
import { PIN_SIZE, pinLabel, pinStateOf, pinSvg, worstAlarm, type PinState } from './pins.ts'
import type { PinLayer, PlacedDevice } from './map-view.ts'

interface Pin { marker: L.Marker; device: PlacedDevice; alarm: Alarm | undefined; state: PinState }

/** Leaflet reads attribution as HTML: the configured text is shown as text. */
function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, function entity (c) { return `&#${c.charCodeAt(0)};` })
}

function iconOf (device: PlacedDevice, state: PinState): L.DivIcon {
  return L.divIcon({
    html: pinSvg(device.kind, state) as unknown as HTMLElement,
    className: `map-pin kind-${device.kind} pin-${state}`,
    iconSize: [PIN_SIZE, PIN_SIZE],
    iconAnchor: [PIN_SIZE / 2, PIN_SIZE / 2],
    popupAnchor: [0, -PIN_SIZE / 2],
  })
}

function popupOf (pin: Pin): HTMLElement {
  const { device, alarm } = pin
  return h('div', { class: 'pin-popup' },
    h('p', {}, h('strong', {}, device.id), ` · ${humanize(device.kind)} · ${device.district}`),
    alarm === undefined
      ? h('p', { class: 'muted' }, device.online ? 'Online, no open alarm' : 'Offline, no open alarm')
      : h('p', {}, h('span', { class: `badge sev-${alarm.severity}` }, alarm.severity), ' ', alarm.message),
    h('p', { class: 'pin-popup-links' }, h('a', { href: `#/device/${encodeURIComponent(device.id)}`, class: 'pin-device-link' }, 'Device page'), ' ', navigateLinks(device.location, device.id)))
}

export function leafletMap (container: HTMLElement, devices: PlacedDevice[], alarms: Alarm[], settings: ConsoleSettings & { mapTileUrl: string }): PinLayer {
  const map = L.map(container, { scrollWheelZoom: false, zoomSnap: 0.5 })
  const tiles = L.tileLayer(settings.mapTileUrl, { maxZoom: 19, attribution: escapeHtml(settings.mapAttribution ?? '') })
  const note = h('p', { class: 'map-note', role: 'status' })
  container.after(note)
  tiles.once('tileerror', function tilesFailed () { note.textContent = 'Map tiles did not load: pins still show where devices are.' })
  tiles.addTo(map)
  map.fitBounds(L.latLngBounds(devices.map(function at (d) { return [d.location.lat, d.location.lon] as [number, number] })), { padding: [40, 40], maxZoom: 17 })

  const pins = new Map<string, Pin>()
  function label (pin: Pin): void {
    const el = pin.marker.getElement()
    el?.setAttribute('aria-label', `${pinLabel(pin.device, pin.alarm)}. Opens details.`)
    el?.setAttribute('data-device-id', pin.device.id)
    el?.setAttribute('data-kind', pin.device.kind)
    el?.setAttribute('data-state', pin.state)
  }

  function place (device: PlacedDevice, alarm: Alarm | undefined): void {
    const state = pinStateOf(device, alarm)
    const known = pins.get(device.id)
    if (known !== undefined) {
      const changed = known.state !== state || known.alarm?.message !== alarm?.message || known.device.online !== device.online
      Object.assign(known, { device, alarm, state })
      if (!changed) return
      known.marker.setIcon(iconOf(device, state))
      known.marker.setZIndexOffset(alarm === undefined ? 0 : 1000)
      if (known.marker.isPopupOpen()) known.marker.setPopupContent(popupOf(known))
      label(known)
      return
    }
    const marker = L.marker([device.location.lat, device.location.lon], { icon: iconOf(device, state), keyboard: true, riseOnHover: true, zIndexOffset: alarm === undefined ? 0 : 1000 })
    const pin: Pin = { marker, device, alarm, state }
    marker.bindPopup(function content () { return popupOf(pin) }, { maxWidth: 280 })
    marker.addTo(map)
    pins.set(device.id, pin)
    label(pin)
  }

  for (const device of devices) place(device, worstAlarm(alarms, device.id))
  return {
    update (latest, openAlarms) {
      const seen = new Set<string>()
      for (const device of latest) {
        seen.add(device.id)
        place(device, worstAlarm(openAlarms, device.id))
      }
      for (const [id, pin] of pins) {
        if (!seen.has(id)) { pin.marker.remove(); pins.delete(id) }
      }
    },
    destroy () { map.remove() },
  }
}
