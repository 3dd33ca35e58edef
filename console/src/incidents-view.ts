// Open incidents above the alarm list: one card per incident (what, which group, how many devices,
// since when) with an "Acknowledge all" button that acknowledges the incident and its active member
// alarms. Read from GET /api/incidents?state=open, again (at most once a second) whenever alarms
// change, since members joining, clearing or being acknowledged change an incident too.
import { ApiError, apiGet, apiPost, type Incident } from './api.ts'
import { ago, h, humanize } from './dom.ts'

export interface IncidentsViewContext {
  onSessionEnded(): void
}

export interface IncidentsView {
  /** Reads the incidents again soon (coalesced). */
  refresh(): void
  close(): void
}

const REFRESH_MIN_MS = 1000
const POLL_MS = 30_000

export function renderIncidents (holder: HTMLElement, ctx: IncidentsViewContext): IncidentsView {
  let closed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let lastLoadMs = 0
  let isLoading = false
  /** A refresh asked for while a load was under way: load again after it. */
  let isStale = false
  const section = h('section', { class: 'incidents', 'aria-label': 'Incidents', hidden: true })
  holder.replaceChildren(section)

  function card (incident: Incident): HTMLElement {
    const error = h('p', { class: 'error', role: 'alert', hidden: true })
    const what = `${humanize(incident.type)}: ${incident.members.length} devices of ${incident.group}`
    const button = h('button', {
      type: 'button',
      class: 'primary',
      'aria-label': `Acknowledge all: ${what}`,
      onclick: function acknowledgeAll () {
        button.disabled = true
        apiPost<Incident>(`/api/incidents/${encodeURIComponent(incident.id)}/ack`, {}).then(function acknowledged () { load() }, function failed (err: unknown) {
          button.disabled = false
          error.hidden = false
          error.textContent = err instanceof Error ? `Not acknowledged: ${err.message}` : 'Not acknowledged'
          if (err instanceof ApiError && err.status === 401) ctx.onSessionEnded()
        })
      },
    }, 'Acknowledge all')
    return h('li', { class: `incident card sev-${incident.severity} state-${incident.state}`, 'data-incident-id': incident.id },
      h('div', { class: 'alarm-head' }, h('span', { class: `badge sev-${incident.severity}` }, incident.severity), h('h3', { class: 'incident-title' }, `Incident: ${what}`)),
      h('p', { class: 'alarm-meta' }, `${incident.district} · opened `, h('time', { datetime: incident.openedAt }, ago(incident.openedAt)), ` · ${incident.members.length} member alarms`),
      incident.state === 'acknowledged'
        ? h('p', { class: 'acked' }, `Acknowledged by ${incident.ackedBy ?? '?'}`)
        : button,
      error)
  }

  function draw (incidents: Incident[]): void {
    section.hidden = incidents.length === 0
    section.replaceChildren(
      h('h2', {}, incidents.length === 1 ? '1 open incident' : `${incidents.length} open incidents`),
      h('ul', { class: 'incident-list' }, incidents.map(card)))
  }

  function load (): void {
    if (closed) return
    clearTimeout(timer)
    if (isLoading) {
      isStale = true
      return
    }
    isLoading = true
    lastLoadMs = Date.now()
    apiGet<{ incidents: Incident[] }>('/api/incidents?state=open').then(function loaded (answer) {
      if (!closed) draw(answer.incidents)
    }, function notLoaded (err: unknown) {
      if (err instanceof ApiError && err.status === 401) ctx.onSessionEnded()
    }).finally(function next () {
      isLoading = false
      if (closed) return
      clearTimeout(timer)
      timer = setTimeout(load, isStale ? REFRESH_MIN_MS : POLL_MS)
      isStale = false
    })
  }

  load()
  return {
    refresh () {
      if (closed) return
      clearTimeout(timer)
      timer = setTimeout(load, Math.max(0, lastLoadMs + REFRESH_MIN_MS - Date.now()))
    },
    close () {
      closed = true
      clearTimeout(timer)
    },
  }
}
