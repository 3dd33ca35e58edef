// "Navigate" links for a place: a `geo:` URI (RFC 5870), which a phone hands to its own maps or
// navigation app, and a web maps URL for desktops and phones without a handler for `geo:`.
import { h } from './dom.ts'

export interface Place { readonly lat: number; readonly lon: number }

/** `{lat}` and `{lon}` are replaced; the gateway may configure another one (console settings). */
let mapsUrlTemplate = 'https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=19/{lat}/{lon}'

export function setMapsUrlTemplate (template: string): void {
  mapsUrlTemplate = template
}

export function geoUri (place: Place): string {
  return `geo:${place.lat.toFixed(6)},${place.lon.toFixed(6)}`
}

export function mapsUrl (place: Place): string {
  return mapsUrlTemplate.replaceAll('{lat}', place.lat.toFixed(6)).replaceAll('{lon}', place.lon.toFixed(6))
}

/** The two links, labelled for screen readers with what they lead to. */
export function navigateLinks (place: Place, what: string): HTMLElement {
  return h('span', { class: 'navigate' },
    h('a', { href: geoUri(place), class: 'nav-geo', 'aria-label': `Navigate to ${what}` }, 'Navigate'),
    h('a', { href: mapsUrl(place), class: 'nav-web', target: '_blank', rel: 'noopener noreferrer', 'aria-label': `Open ${what} in a web map` }, 'Web map'))
}
