// The crew console: sign in, then open alarms (live over server-sent events), devices on a map,
// a device's page with its latest readings and a chart, and alarm history. Hash routes: #/, #/devices,
// #/device/<id>, #/history, #/alarm/<id>, #/maintenance.
// The shell is built once per sign-in; views render into its holder and hear of alarm changes.
import { api, ApiError, isNetworkFailure, openAlarmStream, SESSION_ENDED_EVENT, type Alarm, type Principal } from './api.ts'
import { openCount, renderAlarms, type AlarmFilters, type AlarmsView } from './alarms-view.ts'
import { raiseAlert, setNotificationClickHandler, showCountInTitle, unlockAudioOnFirstGesture } from './attention.ts'
import { renderDevice } from './device-view.ts'
import { humanize } from './dom.ts'
import { createIncidentAttention } from './incident-attention.ts'
import { renderHistory, renderTimeline } from './history-view.ts'
import { announce, prepareLiveRegion } from './live-region.ts'
import { renderMaintenance } from './maintenance-view.ts'
import { renderDevices } from './map-view.ts'
import { offlinePage, signInPage, type SignInReason } from './session-ui.ts'
import { buildShell, type Shell, type StreamState, type Tab } from './shell.ts'
import { registerServiceWorker } from './sw-client.ts'

/** What every view returns: told of each alarm change (with the alarm), closed when left. */
export interface View {
  onAlarmsChanged(changed?: Alarm): void
  close(): void
}

type Route = { name: 'alarms' } | { name: 'devices' } | { name: 'device'; id: string } | { name: 'history' } | { name: 'alarm'; id: string } | { name: 'maintenance' }

const TABS: readonly Tab[] = [
  { route: 'alarms', href: '#/', label: 'Alarms' },
  { route: 'devices', href: '#/devices', label: 'Devices & map' },
  { route: 'history', href: '#/history', label: 'History' },
  { route: 'maintenance', href: '#/maintenance', label: 'Maintenance' },
]

interface State {
  me: Principal | null
  /** Open alarms (active, acknowledged) by id. */
  alarms: Map<string, Alarm>
  /** Alarm ids already announced as new, so each is announced once. */
  announced: Set<string>
  filters: AlarmFilters
  stream: StreamState
  /** The last signed-in name, prefilled when signing in again. */
  lastName: string
}

const state: State = { me: null, alarms: new Map(), announced: new Set(), filters: { district: '', severity: '' }, stream: 'connecting', lastName: '' }
const root = document.getElementById('app') as HTMLElement
let shell: Shell | undefined
let view: View | undefined
let alarmsView: AlarmsView | undefined
let closeStream: (() => void) | undefined
let retryTimer: ReturnType<typeof setTimeout> | undefined
let districtList: Promise<string[]> | undefined
/** An alarm to bring into view once the alarms page is open (a clicked notification). */
let pendingReveal: string | undefined
const incidentAttention = createIncidentAttention()

function route (): Route {
  const hash = location.hash.replace(/^#\/?/, '')
  if (hash === 'devices') return { name: 'devices' }
  if (hash === 'history') return { name: 'history' }
  if (hash === 'maintenance') return { name: 'maintenance' }
  if (hash.startsWith('alarm/')) return { name: 'alarm', id: decodeURIComponent(hash.slice('alarm/'.length)) }
  if (hash.startsWith('device/')) return { name: 'device', id: decodeURIComponent(hash.slice('device/'.length)) }
  return { name: 'alarms' }
}

function alarmList (): Alarm[] {
  return [...state.alarms.values()]
}

/** Every district the caller may see: its own and its devices', fetched once per sign-in. */
function districts (): Promise<string[]> {
  districtList ??= api.devices().then(function districtsOf (devices) {
    return [...new Set([...(state.me?.districts ?? []), ...devices.map(function district (d) { return d.district })])]
  })
  return districtList
}

/** Opens the view of `current` in `holder`; returns it and the tab it belongs to. */
function openView (current: Route, holder: HTMLElement): { tab: string; view: View } {
  alarmsView = undefined
  switch (current.name) {
    case 'alarms': {
      const opened = renderAlarms(holder, {
        me: state.me as Principal,
        alarms: alarmList,
        districts,
        filters: state.filters,
        acknowledge,
        onStale () { reloadAlarms().catch(handleFailure) },
        onSessionEnded () { sessionEnded() },
      })
      alarmsView = opened
      return { tab: 'alarms', view: opened }
    }
    case 'devices': return { tab: 'devices', view: renderDevices(holder, alarmList) }
    case 'device': return { tab: 'devices', view: renderDevice(holder, current.id, alarmList) }
    case 'history': return { tab: 'history', view: renderHistory(holder, state.me as Principal) }
    case 'alarm': return { tab: 'history', view: renderTimeline(holder, current.id) }
    case 'maintenance': return { tab: 'maintenance', view: renderMaintenance(holder, state.me as Principal) }
  }
}

function render (): void {
  if (state.me === null || shell === undefined) return
  view?.close()
  shell.holder.replaceChildren()
  shell.holder.className = 'view'
  const opened = openView(route(), shell.holder)
  view = opened.view
  shell.setCurrent(opened.tab)
  if (pendingReveal !== undefined) alarmsView?.reveal(pendingReveal)
  pendingReveal = undefined
}

function updateStatus (): void {
  shell?.setStream(state.stream, navigator.onLine)
  const n = openCount(alarmList())
  shell?.setOpenCount(n)
  showCountInTitle(n)
}

function describe (alarm: Alarm): string {
  return `${humanize(alarm.type)} at ${alarm.deviceId}, ${alarm.district}`
}

/** Announces and, for critical ones, raises the alarm to the crew's attention. */
function tell (change: string, alarm: Alarm): void {
  // An incident's member alarm: the incident is what gets attention, once.
  if (incidentAttention.onMemberAlarm(change, alarm)) return
  if (change === 'raised' && !state.announced.has(alarm.id)) {
    state.announced.add(alarm.id)
    announce(`New ${alarm.severity} alarm: ${describe(alarm)}`)
    if (alarm.severity === 'critical') raiseAlert({ title: `Critical: ${humanize(alarm.type)}`, body: `${alarm.message} (${alarm.deviceId}, ${alarm.district})`, tag: alarm.id, alarmId: alarm.id })
  } else if (change === 'escalated') {
    state.announced.add(alarm.id)
    announce(`Escalated to ${alarm.severity}: ${describe(alarm)}`)
    if (alarm.severity === 'critical') raiseAlert({ title: `Escalated to critical: ${humanize(alarm.type)}`, body: `${alarm.message} (${alarm.deviceId}, ${alarm.district})`, tag: alarm.id, alarmId: alarm.id })
  } else if (change === 'overdue') {
    // Nobody acknowledged it in time: a critical one sounds again.
    announce(`Still not acknowledged (${alarm.escalation ?? 1}×): ${describe(alarm)}`)
    if (alarm.severity === 'critical') raiseAlert({ title: `Not acknowledged: ${humanize(alarm.type)}`, body: `${alarm.message} (${alarm.deviceId}, ${alarm.district})`, tag: alarm.id, alarmId: alarm.id })
  } else if (change === 'acknowledged' && alarm.ackedBy !== state.me?.name) {
    announce(`${describe(alarm)} acknowledged by ${alarm.ackedBy ?? 'someone'}`)
  }
}

/**
 * Changes applied while a reload's request is out. Its answer may predate them (the stream
 * brought an alarm raised after the server listed the open ones), so they are applied again on top
 * of it: replacing the list with the answer alone would drop that alarm from the crew's view.
 */
const changesDuringReloads = new Set<Map<string, Alarm>>()

function applyAlarm (alarm: Alarm): void {
  if (alarm.state === 'cleared') state.alarms.delete(alarm.id)
  else state.alarms.set(alarm.id, alarm)
  for (const changes of changesDuringReloads) changes.set(alarm.id, alarm)
  updateStatus()
  view?.onAlarmsChanged(alarm)
}

async function acknowledge (alarm: Alarm, note: string): Promise<Alarm> {
  const updated = await api.acknowledge(alarm.id, note)
  // The stream may already have brought a later state of it.
  const known = state.alarms.get(updated.id)
  if (known === undefined || known.updatedAt <= updated.updatedAt) applyAlarm(updated)
  return updated
}

async function reloadAlarms (): Promise<void> {
  const isFirstLoad = state.announced.size === 0 && state.alarms.size === 0
  const changes = new Map<string, Alarm>()
  changesDuringReloads.add(changes)
  let alarms: Alarm[]
  try {
    alarms = await api.openAlarms()
  } finally {
    changesDuringReloads.delete(changes)
  }
  const before = state.alarms
  state.alarms = new Map(alarms.map(function byId (a) { return [a.id, a] }))
  for (const change of changes.values()) {
    const listed = state.alarms.get(change.id)
    if (listed !== undefined && listed.updatedAt >= change.updatedAt) continue
    if (change.state === 'cleared') state.alarms.delete(change.id)
    else state.alarms.set(change.id, change)
  }
  for (const alarm of alarms) {
    // Alarms raised while the stream was down are new to the crew; those there at sign-in are not news.
    if (isFirstLoad) state.announced.add(alarm.id)
    else if (!before.has(alarm.id)) tell('raised', alarm)
  }
  if (isFirstLoad) incidentAttention.know(alarms)
  updateStatus()
  view?.onAlarmsChanged()
}

function startStream (): void {
  closeStream?.()
  clearTimeout(retryTimer)
  state.stream = 'connecting'
  updateStatus()
  closeStream = openAlarmStream({
    onReady () {
      state.stream = 'live'
      updateStatus()
      reloadAlarms().catch(handleFailure)
    },
    onAlarm (change, alarm) {
      tell(change, alarm)
      applyAlarm(alarm)
    },
    onTrouble (closed) {
      state.stream = 'down'
      updateStatus()
      // Is the session still good? The browser retries an open stream by itself; a closed one is reopened here.
      const signedInAs = state.me
      api.session().then(function stillSignedIn () {
        if (closed && state.me === signedInAs) retryTimer = setTimeout(startStream, 3000)
      }, function failed (err: unknown) {
        if (state.me !== signedInAs) return
        if (err instanceof ApiError && err.status === 401) sessionEnded()
        else if (closed) retryTimer = setTimeout(startStream, 5000)
      })
    },
  })
}

function signedIn (me: Principal): void {
  state.me = me
  state.lastName = me.name
  state.alarms = new Map()
  state.announced = new Set()
  incidentAttention.reset()
  districtList = undefined
  shell = buildShell(me, TABS, signOut)
  root.replaceChildren(shell.el)
  render()
  startStream()
}

function handleFailure (err: unknown): void {
  if (err instanceof ApiError && err.status === 401) sessionEnded()
}

function stop (): void {
  closeStream?.()
  closeStream = undefined
  clearTimeout(retryTimer)
  view?.close()
  view = undefined
  alarmsView = undefined
  shell = undefined
  state.me = null
  state.alarms.clear()
  updateStatus()
}

async function showSignIn (reason: SignInReason): Promise<void> {
  const deviceAccount = await api.deviceAccount()
  root.replaceChildren(signInPage({ reason, deviceAccount, name: state.lastName, onSignedIn: signedIn }))
}

/** The session ended without the user signing out: say so loudly, and offer the quickest way back. */
function sessionEnded (): void {
  if (state.me === null) return
  stop()
  raiseAlert({ title: 'Signed out', body: 'This phone no longer receives alarms. Sign in again.', tag: 'session' })
  showSignIn('ended').catch(function ignore () { /* showSignIn handles its own failures */ })
}

function signOut (): void {
  // Signing out on purpose also forgets this device: it should not sign in again by itself.
  api.signOut(true).catch(function ignore () { /* signed out locally either way */ }).finally(function done () {
    stop()
    void showSignIn('signed-out')
  })
}

// Any call answered 401 (a device page, the history, a filter's districts) ends the page's session.
window.addEventListener(SESSION_ENDED_EVENT, sessionEnded)

let bootRetry: ReturnType<typeof setTimeout> | undefined

function boot (): void {
  clearTimeout(bootRetry)
  api.session().then(signedIn, function needsSignIn (err: unknown) {
    if (!isNetworkFailure(err)) {
      void showSignIn('load')
      return
    }
    root.replaceChildren(offlinePage(boot))
    // The network may be up and the gateway down: keep trying, not only on the 'online' event.
    bootRetry = setTimeout(boot, 10_000)
  })
}

/** A clicked notification: the alarms page, scrolled to that alarm's card. */
function showAlarm (alarmId: string): void {
  if (route().name === 'alarms') {
    alarmsView?.reveal(alarmId)
    return
  }
  pendingReveal = alarmId
  location.hash = '#/'
}

prepareLiveRegion()
unlockAudioOnFirstGesture()
setNotificationClickHandler(showAlarm)
registerServiceWorker(showAlarm)
window.addEventListener('hashchange', render)
window.addEventListener('online', function backOnline () {
  updateStatus()
  if (state.me === null && root.querySelector('.offline-notice') !== null) boot()
  else if (state.me !== null && state.stream !== 'live') startStream()
})
window.addEventListener('offline', updateStatus)
boot()
