// The crew console: sign in, then open alarms (live over server-sent events), devices on a map,
// a device's page with its latest readings and a chart, and alarm history. Hash routes: #/, #/devices,
// #/device/<id>, #/history, #/alarm/<id>.
import { api, ApiError, openAlarmStream, type Alarm, type Principal } from './api.ts'
import { renderAlarms, type AlarmFilters } from './alarms-view.ts'
import { renderDevice } from './device-view.ts'
import { h } from './dom.ts'
import { renderHistory, renderTimeline } from './history-view.ts'
import { renderDevices } from './map-view.ts'

interface State {
  me: Principal | null
  alarms: Map<string, Alarm>
  filters: AlarmFilters
  live: 'connecting' | 'live' | 'retrying'
  flash: string | null
}

const state: State = { me: null, alarms: new Map(), filters: { district: '', severity: '' }, live: 'connecting', flash: null }
const root = document.getElementById('app') as HTMLElement
let closeStream: (() => void) | undefined
let viewCleanup: (() => void) | undefined
/** Views that want to hear about alarm changes (device page, map). */
const alarmWatchers = new Set<(changed?: Alarm) => void>()

function route (): { name: 'alarms' } | { name: 'devices' } | { name: 'device'; id: string } | { name: 'history' } | { name: 'alarm'; id: string } {
  const hash = location.hash.replace(/^#\/?/, '')
  if (hash === 'devices') return { name: 'devices' }
  if (hash === 'history') return { name: 'history' }
  if (hash.startsWith('alarm/')) return { name: 'alarm', id: decodeURIComponent(hash.slice('alarm/'.length)) }
  if (hash.startsWith('device/')) return { name: 'device', id: decodeURIComponent(hash.slice('device/'.length)) }
  return { name: 'alarms' }
}

function signInPage (message = ''): HTMLElement {
  const name = h('input', { name: 'name', autocomplete: 'username', required: true, autocapitalize: 'off', spellcheck: 'false' })
  const secret = h('input', { name: 'secret', type: 'password', autocomplete: 'current-password', required: true })
  const error = h('p', { class: 'form-error', role: 'alert' }, message)
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in')
  const form = h('form', { class: 'sign-in card', onsubmit: function submit (event: Event) {
    event.preventDefault()
    button.disabled = true
    error.textContent = ''
    api.signIn(name.value.trim(), secret.value).then(function signedIn (me) {
      state.me = me
      start()
    }, function refused (err: unknown) {
      button.disabled = false
      error.textContent = err instanceof ApiError && err.status === 401 ? 'Unknown name or wrong secret.' : err instanceof ApiError && err.status === 429 ? 'Too many attempts: wait a minute.' : 'The gateway did not answer. Try again.'
    })
  } },
  h('h1', {}, 'City sensors'),
  h('p', { class: 'muted' }, 'Crew console: sign in with your crew or operator name and secret.'),
  h('label', {}, 'Name', name),
  h('label', {}, 'Secret', secret),
  error,
  button)
  return h('main', { class: 'sign-in-page' }, form)
}

function shell (content: HTMLElement): HTMLElement {
  const current = route().name
  const openCount = activeCount()
  const live = { connecting: 'Connecting…', live: 'Live', retrying: 'Reconnecting…' }[state.live]
  return h('div', { class: 'shell' },
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '#/' }, 'City sensors'),
      h('span', { class: `live live-${state.live}`, title: 'alarm updates' }, live),
      h('span', { class: 'who' }, state.me?.name ?? '', state.me?.districts === null ? ' · all districts' : ` · ${state.me?.districts?.join(', ') ?? ''}`),
      h('button', { class: 'link', onclick: signOut }, 'Sign out')),
    h('nav', { class: 'tabs' },
      h('a', { href: '#/', class: current === 'alarms' ? 'active' : undefined }, 'Alarms', openCount > 0 ? h('span', { class: 'count' }, openCount) : null),
      h('a', { href: '#/devices', class: current === 'devices' || current === 'device' ? 'active' : undefined }, 'Devices & map'),
      h('a', { href: '#/history', class: current === 'history' || current === 'alarm' ? 'active' : undefined }, 'History')),
    state.flash === null ? null : h('p', { class: 'flash', role: 'status' }, state.flash),
    content)
}

function activeCount (): number {
  return [...state.alarms.values()].filter(function isActive (a) { return a.state === 'active' }).length
}

function updateTabCount (): void {
  const tab = root.querySelector('nav.tabs a[href="#/"]')
  tab?.replaceChildren('Alarms', ...(activeCount() > 0 ? [h('span', { class: 'count' }, activeCount())] : []))
}

function render (): void {
  if (state.me === null) return
  viewCleanup?.()
  viewCleanup = undefined
  alarmWatchers.clear()
  const current = route()
  const focus = rememberFocus()
  let view: HTMLElement
  if (current.name === 'alarms') {
    view = renderAlarms([...state.alarms.values()], state.filters, { onFilter, onAcknowledge, me: state.me })
  } else {
    const holder = h('main', { class: 'view' })
    const alarmList = function alarmList (): Alarm[] { return [...state.alarms.values()] }
    const notify = current.name === 'device'
      ? renderDevice(holder, current.id, alarmList)
      : current.name === 'history'
        ? renderHistory(holder, state.me)
        : current.name === 'alarm' ? renderTimeline(holder, current.id) : renderDevices(holder, alarmList)
    alarmWatchers.add(notify.onAlarmsChanged)
    viewCleanup = notify.close
    view = holder
  }
  root.replaceChildren(shell(view))
  focus()
}

/** Keeps the caret in a note field while live updates redraw the list. */
function rememberFocus (): () => void {
  const active = document.activeElement
  if (!(active instanceof HTMLInputElement) || active.dataset.focusKey === undefined) return function nothing () {}
  const key = active.dataset.focusKey
  const { selectionStart, selectionEnd } = active
  return function restore () {
    const again = root.querySelector<HTMLInputElement>(`input[data-focus-key="${CSS.escape(key)}"]`)
    again?.focus()
    if (again !== null && selectionStart !== null) again.setSelectionRange(selectionStart, selectionEnd)
  }
}

function onFilter (filters: AlarmFilters): void {
  state.filters = filters
  render()
}

async function onAcknowledge (alarm: Alarm, note: string): Promise<void> {
  try {
    const updated = await api.acknowledge(alarm.id, note)
    state.alarms.set(updated.id, updated)
    state.flash = null
  } catch (err) {
    state.flash = err instanceof ApiError ? `Not acknowledged: ${err.message}` : 'Not acknowledged: the gateway did not answer.'
    if (err instanceof ApiError && err.status === 401) return signedOut()
  }
  render()
}

async function reloadAlarms (): Promise<void> {
  const alarms = await api.openAlarms()
  state.alarms = new Map(alarms.map(function byId (a) { return [a.id, a] }))
  render()
}

function start (): void {
  closeStream?.()
  state.live = 'connecting'
  render()
  closeStream = openAlarmStream({
    onReady () {
      state.live = 'live'
      reloadAlarms().catch(handleFailure)
    },
    onAlarm (_change, alarm) {
      if (alarm.state === 'cleared') state.alarms.delete(alarm.id)
      else state.alarms.set(alarm.id, alarm)
      if (route().name === 'alarms') render()
      else updateTabCount()
      for (const watcher of alarmWatchers) watcher(alarm)
    },
    onTrouble (closed) {
      state.live = 'retrying'
      render()
      // The browser retries by itself unless the server refused (e.g. the session ended).
      if (closed) api.session().then(start, handleFailure)
    },
  })
}

function handleFailure (err: unknown): void {
  if (err instanceof ApiError && err.status === 401) signedOut()
}

function signedOut (message = 'Your session ended: sign in again.'): void {
  closeStream?.()
  viewCleanup?.()
  state.me = null
  state.alarms.clear()
  root.replaceChildren(signInPage(message))
}

function signOut (): void {
  api.signOut().finally(function done () { signedOut('Signed out.') }).catch(function ignore () {})
}

setInterval(function refreshAges () { if (state.me !== null && route().name === 'alarms' && document.activeElement?.tagName !== 'INPUT') render() }, 30_000)
window.addEventListener('hashchange', render)
api.session().then(function resume (me) {
  state.me = me
  start()
}, function needsSignIn () {
  root.replaceChildren(signInPage())
})
