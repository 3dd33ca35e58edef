// The open-alarms list: filters by district and severity, cards sorted by severity then age
// (oldest first), and acknowledgement with an optional note. Drafts survive live redraws.
import type { Alarm, Principal } from './api.ts'
import { ago, h, humanize } from './dom.ts'

export interface AlarmFilters { district: string; severity: string }
export interface AlarmActions {
  me: Principal
  onFilter(filters: AlarmFilters): void
  onAcknowledge(alarm: Alarm, note: string): Promise<void>
}

const SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const
const RANK: Record<string, number> = { critical: 0, major: 1, minor: 2, warning: 3 }
const drafts = new Map<string, string>()
const busy = new Set<string>()

export function sortAlarms (alarms: Alarm[]): Alarm[] {
  return [...alarms].sort(function bySeverityThenAge (a, b) {
    return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) || a.raisedAt.localeCompare(b.raisedAt)
  })
}

export function renderAlarms (alarms: Alarm[], filters: AlarmFilters, actions: AlarmActions): HTMLElement {
  const districts = new Set(actions.me.districts ?? [])
  for (const alarm of alarms) districts.add(alarm.district)
  const shown = sortAlarms(alarms.filter(function matches (a) {
    return (filters.district === '' || a.district === filters.district) && (filters.severity === '' || a.severity === filters.severity)
  }))

  const district = h('select', { 'aria-label': 'District', onchange: function pickDistrict () { actions.onFilter({ ...filters, district: district.value }) } },
    h('option', { value: '' }, 'All districts'),
    [...districts].sort().map(function option (d) { return h('option', { value: d, selected: d === filters.district }, d) }))
  const severity = h('select', { 'aria-label': 'Severity', onchange: function pickSeverity () { actions.onFilter({ ...filters, severity: severity.value }) } },
    h('option', { value: '' }, 'All severities'),
    SEVERITIES.map(function option (s) { return h('option', { value: s, selected: s === filters.severity }, humanize(s)) }))

  const counts = SEVERITIES.map(function countOf (s) {
    const n = alarms.filter(function isOf (a) { return a.severity === s }).length
    return n === 0 ? null : h('span', { class: `pill sev-${s}` }, `${n} ${s}`)
  })

  return h('main', { class: 'view alarms-view' },
    h('div', { class: 'toolbar' },
      h('h2', {}, 'Open alarms'),
      h('div', { class: 'counts' }, counts),
      h('div', { class: 'filters' }, district, severity)),
    shown.length === 0
      ? h('div', { class: 'empty card' }, alarms.length === 0 ? 'No open alarms. New ones appear here as they are raised.' : 'No open alarms match these filters.')
      : h('ul', { class: 'alarm-list', 'aria-live': 'polite' }, shown.map(function card (alarm) { return alarmCard(alarm, actions) })))
}

function alarmCard (alarm: Alarm, actions: AlarmActions): HTMLElement {
  const isActive = alarm.state === 'active'
  const note = h('input', {
    class: 'note',
    placeholder: 'Note (optional)',
    maxlength: 500,
    'aria-label': `Note for ${alarm.deviceId}`,
    'data-focus-key': `note-${alarm.id}`,
    value: drafts.get(alarm.id) ?? '',
    oninput: function keepDraft () { drafts.set(alarm.id, note.value) },
  })
  const button = h('button', { type: 'submit', class: 'primary', disabled: busy.has(alarm.id) }, busy.has(alarm.id) ? 'Acknowledging…' : 'Acknowledge')
  const ackForm = h('form', { class: 'ack', onsubmit: function submit (event: Event) {
    event.preventDefault()
    busy.add(alarm.id)
    button.disabled = true
    button.textContent = 'Acknowledging…'
    actions.onAcknowledge(alarm, note.value.trim()).finally(function settle () {
      busy.delete(alarm.id)
      drafts.delete(alarm.id)
    }).catch(function ignore () {})
  } }, note, button)

  return h('li', { class: `alarm card sev-${alarm.severity} state-${alarm.state}`, 'data-alarm-id': alarm.id, 'data-device-id': alarm.deviceId },
    h('div', { class: 'alarm-head' },
      h('span', { class: `badge sev-${alarm.severity}` }, alarm.severity),
      h('strong', { class: 'alarm-type' }, humanize(alarm.type)),
      h('span', { class: `state state-${alarm.state}` }, isActive ? 'Active' : 'Acknowledged')),
    h('p', { class: 'alarm-message' }, alarm.message),
    h('p', { class: 'alarm-meta' },
      h('a', { href: `#/device/${encodeURIComponent(alarm.deviceId)}` }, alarm.deviceId),
      ` · ${alarm.district} · ${alarm.kind} · raised `,
      h('time', { datetime: alarm.raisedAt, title: new Date(alarm.raisedAt).toLocaleString() }, ago(alarm.raisedAt))),
    isActive
      ? ackForm
      : h('p', { class: 'acked' }, `Acknowledged by ${alarm.ackedBy ?? '?'} ${ago(alarm.updatedAt)}`, alarm.ackNote === undefined ? null : h('q', {}, alarm.ackNote)))
}
