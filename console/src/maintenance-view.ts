// `#/maintenance`: maintenance windows running and to come (the alarms of their devices are
// recorded but not pushed to crews), a form to add one for a device or a district (crews: their
// own), and "End now" on each. Windows come from GET /api/maintenance, which shows each caller only
// what it may see.
import './maintenance.css'
import { api, apiGet, apiPost, ApiError, type Alarm, type Principal } from './api.ts'
import { h } from './dom.ts'

interface MaintenanceWindow {
  id: string
  scope: { kind: 'device' | 'district' | 'group'; name: string }
  from: string
  to: string
  reason: string
  createdBy: string
  endedBy?: string
  status: 'running' | 'upcoming' | 'ended'
}

const DURATIONS = [['+1h', '1 hour'], ['+2h', '2 hours'], ['+4h', '4 hours'], ['+8h', '8 hours'], ['+1d', '1 day'], ['+3d', '3 days']] as const
const STARTS = [['now', 'Now'], ['+1h', 'In 1 hour'], ['+1d', 'In 1 day']] as const

function when (iso: string): HTMLElement {
  return h('time', { datetime: iso }, new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }))
}

function scopeText (scope: MaintenanceWindow['scope']): string {
  return scope.kind === 'device' ? `Device ${scope.name}` : scope.kind === 'district' ? `District ${scope.name}` : `Group ${scope.name}`
}

function failure (err: unknown): string {
  return err instanceof ApiError ? err.message : 'the gateway did not answer'
}

export function renderMaintenance (holder: HTMLElement, me: Principal): { onAlarmsChanged: (changed?: Alarm) => void; close: () => void } {
  let isClosed = false
  const listStatus = h('p', { class: 'form-status', role: 'status' })
  const list = h('ul', { class: 'maintenance-list', 'aria-label': 'Maintenance windows' })
  const formError = h('p', { class: 'form-error', role: 'alert' })

  const kind = h('select', { name: 'kind', onchange: function pickKind () { void fillTargets() } },
    h('option', { value: 'device' }, 'One device'),
    h('option', { value: 'district' }, 'A whole district'))
  const target = h('select', { name: 'target', required: true })
  const start = h('select', { name: 'from' }, STARTS.map(function option ([value, text]) { return h('option', { value }, text) }))
  const duration = h('select', { name: 'to' }, DURATIONS.map(function option ([value, text]) { return h('option', { value, selected: value === '+2h' }, text) }))
  const reason = h('input', { name: 'reason', required: true, maxlength: 200, autocomplete: 'off', placeholder: 'e.g. replacing the cover' })
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add window')
  const form = h('form', { class: 'maintenance-form card', 'aria-labelledby': 'maintenance-add-title', onsubmit: function add (event: Event) { event.preventDefault(); void addWindow() } },
    h('h2', { id: 'maintenance-add-title' }, 'New maintenance window'),
    h('p', { class: 'muted' }, 'During the window the alarms of these devices are recorded but not sent to crews, and no offline alarm is raised. What is still open when it ends is sent as usual.'),
    h('label', {}, 'Covers', kind),
    h('label', {}, 'Which', target),
    h('label', {}, 'Starts', start),
    h('label', {}, 'Lasts', duration),
    h('label', {}, 'Reason', reason),
    formError,
    submit)

  holder.append(
    h('section', { class: 'maintenance-section', 'aria-labelledby': 'maintenance-title' },
      h('h1', { id: 'maintenance-title' }, 'Maintenance'),
      listStatus,
      list),
    form)

  let devices: string[] = []
  async function fillTargets (): Promise<void> {
    const names = kind.value === 'device'
      ? devices
      : [...new Set([...(me.districts ?? []), ...(await api.devices().catch(function none () { return [] })).map(function district (d) { return d.district })])].sort()
    if (isClosed) return
    target.replaceChildren(...names.map(function option (name) { return h('option', { value: name }, name) }))
    submit.disabled = names.length === 0
  }

  function item (w: MaintenanceWindow): HTMLElement {
    const label = w.status === 'upcoming' ? 'Cancel' : 'End now'
    const end = h('button', { type: 'button', class: 'link end-window', 'aria-label': `${label}: maintenance of ${scopeText(w.scope)}` }, label)
    end.addEventListener('click', function endNow () {
      end.disabled = true
      apiPost<MaintenanceWindow>(`/api/maintenance/${encodeURIComponent(w.id)}/end`).then(function ended () {
        listStatus.textContent = `Maintenance of ${scopeText(w.scope)} ended.`
        void load()
      }, function notEnded (err: unknown) {
        end.disabled = false
        listStatus.textContent = `Not ended: ${failure(err)}`
      })
    })
    const mayEnd = w.scope.kind !== 'group' || me.districts === null
    return h('li', { class: `maintenance-item card status-${w.status}`, 'data-window-id': w.id },
      h('div', { class: 'alarm-head' },
        h('span', { class: 'pill' }, w.status === 'running' ? 'Running' : 'Upcoming'),
        h('strong', {}, scopeText(w.scope))),
      h('p', { class: 'alarm-message' }, w.reason),
      h('p', { class: 'alarm-meta' }, when(w.from), ' – ', when(w.to), ` · by ${w.createdBy}`),
      mayEnd ? end : null)
  }

  async function load (): Promise<void> {
    list.setAttribute('aria-busy', 'true')
    try {
      const { windows } = await apiGet<{ windows: MaintenanceWindow[] }>('/api/maintenance')
      if (isClosed) return
      const current = windows.filter(function notEnded (w) { return w.status !== 'ended' })
      list.replaceChildren(...(current.length === 0 ? [h('li', { class: 'empty' }, 'No maintenance running or planned.')] : current.map(item)))
    } catch (err) {
      if (!isClosed) list.replaceChildren(h('li', { class: 'empty' }, `Maintenance windows not loaded: ${failure(err)}`))
    } finally {
      list.removeAttribute('aria-busy')
    }
  }

  async function addWindow (): Promise<void> {
    formError.textContent = ''
    submit.disabled = true
    try {
      const created = await apiPost<MaintenanceWindow>('/api/maintenance', { [kind.value]: target.value, from: start.value, to: duration.value, reason: reason.value.trim() })
      reason.value = ''
      listStatus.textContent = `Maintenance of ${scopeText(created.scope)} added.`
      await load()
    } catch (err) {
      formError.textContent = `Not added: ${failure(err)}`
    } finally {
      submit.disabled = false
    }
  }

  void (async function loadDevices () {
    devices = (await api.devices().catch(function none () { return [] })).map(function id (d) { return d.id }).sort()
    await fillTargets()
  })()
  void load()

  return {
    onAlarmsChanged () { /* windows do not change with alarms */ },
    close () { isClosed = true },
  }
}
