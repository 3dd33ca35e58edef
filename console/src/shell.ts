// The page around every view, built once per sign-in and updated in place: header (brand, stream
// state, who, alerts, sign out), the offline notice, and the tabs with the open-alarm count.
import type { Principal } from './api.ts'
import { alertsControl } from './attention.ts'
import { h } from './dom.ts'

export type StreamState = 'connecting' | 'live' | 'down'

export interface Tab { readonly route: string; readonly href: string; readonly label: string }

export interface Shell {
  readonly el: HTMLElement
  /** Where the current view renders. */
  readonly holder: HTMLElement
  setStream(state: StreamState, online: boolean): void
  setOpenCount(count: number): void
  setCurrent(route: string): void
}

export function buildShell (me: Principal, tabs: readonly Tab[], onSignOut: () => void): Shell {
  const live = h('span', { class: 'live', role: 'status' })
  const offline = h('div', { class: 'offline-banner', role: 'alert', hidden: true })
  const count = h('span', { class: 'count', hidden: true })
  const links = tabs.map(function tab (t) {
    return h('a', { href: t.href, 'data-route': t.route }, t.label, t.route === 'alarms' ? count : null)
  })
  const holder = h('main', { class: 'view' })
  const el = h('div', { class: 'shell' },
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '#/' }, 'City sensors'),
      live,
      h('span', { class: 'who' }, h('span', { class: 'who-name' }, me.name), me.districts === null ? ' · all districts' : ` · ${me.districts.join(', ')}`),
      alertsControl(),
      h('button', { type: 'button', class: 'link sign-out', onclick: onSignOut }, 'Sign out')),
    offline,
    h('nav', { class: 'tabs', 'aria-label': 'Pages' }, links),
    holder)

  return {
    el,
    holder,
    setStream (state: StreamState, online: boolean) {
      const isLive = state === 'live' && online
      const label = isLive ? 'Live' : state === 'connecting' && online ? 'Connecting…' : 'Offline'
      live.className = `live live-${isLive ? 'live' : state === 'connecting' && online ? 'connecting' : 'offline'}`
      if (live.textContent !== label) live.textContent = label
      const down = !online || state === 'down'
      offline.hidden = !down
      offline.textContent = down ? (online ? 'Offline — alarms are not being received. Reconnecting to the gateway…' : 'Offline — alarms are not being received. This device has no network.') : ''
    },
    setOpenCount (n: number) {
      count.hidden = n === 0
      count.textContent = String(n)
      count.title = `${n} open`
    },
    setCurrent (route: string) {
      for (const link of links) {
        const isCurrent = link.dataset.route === route
        link.classList.toggle('active', isCurrent)
        if (isCurrent) link.setAttribute('aria-current', 'page')
        else link.removeAttribute('aria-current')
      }
    },
  }
}
