// Alarm history: `#/history`, recent alarms of the caller's districts over 24 h, 7 d or 30 d (who
// acknowledged with what note, time to acknowledge and to clear), and `#/alarm/<id>`, one alarm's
// timeline from raise through escalations and acknowledgement to clearing.
import './history.css'
import { api, ApiError, type Alarm, type Principal } from './api.ts'
import { consoleSettings } from './console-settings.ts'
import { ago, h, humanize } from './dom.ts'
import { alarmHistory, alarmStats, alarmTimeline, isMissingRoute, type AlarmStats, type HistoryEntry, type TimelineEvent } from './history-api.ts'
import { navigateLinks } from './navigate.ts'

const RANGES = [[24, 'Last 24 h'], [168, 'Last 7 days'], [720, 'Last 30 days']] as const
/** Alarm types named after a field whose spelt-out name is wrong. */
const TYPE_LABELS: Record<string, string> = { h2s: 'H₂S', ch4: 'CH₄', o2: 'O₂', phOutOfRange: 'pH out of range' }
let chosen = { hours: 24 as number, district: '' }

/** 45 s, 12 min, 2 h 5 min, 3 d 4 h. */
export function formatDuration (sec: number): string {
  const s = Math.max(0, Math.round(sec))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`
}

function when (iso: string): HTMLElement {
  return h('time', { datetime: iso, title: ago(iso) }, new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }))
}

export function alarmTypeLabel (type: string): string {
  return TYPE_LABELS[type] ?? humanize(type)
}

function stateText (entry: HistoryEntry): string {
  return entry.state === 'cleared' ? 'Cleared' : entry.state === 'acknowledged' ? 'Acknowledged' : 'Active'
}

function unavailable (err: unknown, what: string): string {
  if (isMissingRoute(err)) return 'History is not available on this gateway.'
  return err instanceof ApiError ? `No ${what}: ${err.message}` : `No ${what}: the gateway did not answer.`
}

/** One alarm of a history list; `withDevice`: name its device (not on the device's own page). */
export function historyItem (entry: HistoryEntry, withDevice: boolean): HTMLElement {
  return h('li', { class: `history-item card sev-${entry.severity} state-${entry.state}`, 'data-alarm-id': entry.id },
    h('div', { class: 'alarm-head' },
      h('span', { class: `badge sev-${entry.severity}` }, entry.severity),
      h('strong', { class: 'alarm-type' }, alarmTypeLabel(entry.type)),
      h('span', { class: 'history-state' }, stateText(entry))),
    h('p', { class: 'alarm-meta' },
      withDevice ? [h('a', { href: `#/device/${encodeURIComponent(entry.deviceId)}` }, entry.deviceId), ` · ${entry.district} · `] : null,
      'raised ', when(entry.raisedAt),
      entry.escalations > 0 ? ` · escalated ${entry.escalations}×` : '',
      entry.ackEscalations === undefined ? '' : ` · overdue ${entry.ackEscalations}×`),
    h('p', { class: 'history-ack' }, entry.ackedBy === undefined
      ? (entry.state === 'active' ? 'Not acknowledged yet' : 'Not acknowledged')
      : [`Acknowledged by ${entry.ackedBy}`, entry.timeToAckSec === undefined ? '' : ` after ${formatDuration(entry.timeToAckSec)}`,
          entry.ackNote === undefined || entry.ackNote === '' ? null : h('q', {}, entry.ackNote)]),
    entry.clearedAt === undefined ? null : h('p', { class: 'history-clear' }, 'Cleared ', when(entry.clearedAt),
      entry.timeToClearSec === undefined ? '' : ` after ${formatDuration(entry.timeToClearSec)}`),
    h('p', {}, h('a', { href: `#/alarm/${encodeURIComponent(entry.id)}`, 'aria-label': `Timeline of ${alarmTypeLabel(entry.type)} on ${entry.deviceId}, raised ${new Date(entry.raisedAt).toLocaleString()}` }, 'Timeline')))
}

function medianAndP90 (median: number | undefined, p90: number | undefined): string {
  return median === undefined || p90 === undefined ? '—' : `${formatDuration(median)} / ${formatDuration(p90)}`
}

/** A compact table: per district and type, raises, time to acknowledge and to clear (median / 90th percentile), escalations. */
function statsTable (stats: AlarmStats): HTMLElement {
  if (stats.groups.length === 0) return h('p', { class: 'muted' }, 'No alarms in this time range.')
  return h('table', { class: 'history-stats-table' },
    h('thead', {}, h('tr', {},
      ['District', 'Type', 'Raised', 'To acknowledge (median / 90 %)', 'To clear (median / 90 %)', 'Overdue'].map(function heading (text) { return h('th', { scope: 'col' }, text) }))),
    h('tbody', {}, stats.groups.map(function row (group) {
      return h('tr', { 'data-district': group.district, 'data-type': group.type },
        h('td', {}, group.district),
        h('td', {}, alarmTypeLabel(group.type)),
        h('td', { class: 'num' }, String(group.count)),
        h('td', { class: 'num' }, medianAndP90(group.medianAckSec, group.p90AckSec)),
        h('td', { class: 'num' }, medianAndP90(group.medianClearSec, group.p90ClearSec)),
        h('td', { class: 'num' }, String(group.escalations)))
    })))
}

/** `#/history`. */
export function renderHistory (holder: HTMLElement, me: Principal): { onAlarmsChanged: (changed?: Alarm) => void; close: () => void } {
  let isClosed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  let generation = 0
  const list = h('div', { class: 'history-body', 'aria-live': 'polite', 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading…'))
  const stats = h('details', { class: 'history-stats card', open: true }, h('summary', {}, 'Response times'), h('p', { class: 'loading' }, 'Loading…'))
  const district = h('select', { 'aria-label': 'District', onchange: function pickDistrict () { chosen = { ...chosen, district: district.value }; void load() } },
    h('option', { value: '' }, 'All districts'))
  const range = h('select', { 'aria-label': 'Time range', onchange: function pickRange () { chosen = { ...chosen, hours: Number(range.value) }; void load() } },
    RANGES.map(function option ([hours, text]) { return h('option', { value: hours, selected: hours === chosen.hours }, text) }))

  async function fillDistricts (): Promise<void> {
    // Operators see every device, so the devices' districts are every district they may pick.
    const names = new Set(me.districts ?? [])
    try {
      for (const device of await api.devices()) names.add(device.district)
    } catch { /* the caller's own districts still make a list */ }
    if (isClosed) return
    if (chosen.district !== '' && !names.has(chosen.district)) chosen = { ...chosen, district: '' }
    district.replaceChildren(h('option', { value: '' }, 'All districts'),
      ...[...names].sort().map(function option (d) { return h('option', { value: d, selected: d === chosen.district }, d) }))
  }

  async function loadStats (mine: number): Promise<void> {
    let body: HTMLElement
    try {
      const answer = await alarmStats({ hours: chosen.hours, district: chosen.district })
      body = h('div', {},
        answer.partial === true ? h('p', { class: 'history-warning', role: 'note' }, answer.warning ?? 'Some alarms could not be read: the figures may be incomplete.') : '',
        statsTable(answer))
    } catch (err) {
      body = h('p', { class: 'muted' }, unavailable(err, 'statistics'))
    }
    if (isClosed || mine !== generation) return
    stats.replaceChildren(stats.firstElementChild ?? '', body)
  }

  async function load (): Promise<void> {
    const mine = ++generation
    void loadStats(mine)
    list.setAttribute('aria-busy', 'true')
    try {
      const history = await alarmHistory({ hours: chosen.hours, district: chosen.district, limit: 200 })
      if (isClosed || mine !== generation) return
      const cleared = history.alarms.filter(function isCleared (a) { return a.state === 'cleared' }).length
      list.replaceChildren(
        history.partial === true ? h('p', { class: 'history-warning card', role: 'note' }, history.warning ?? 'Some history could not be read: the list may be incomplete.') : '',
        h('p', { class: 'muted' }, `${history.alarms.length} alarms, ${cleared} cleared`),
        history.alarms.length === 0
          ? h('div', { class: 'card empty' }, 'No alarms in this time range.')
          : h('ul', { class: 'history-list' }, history.alarms.map(function item (entry) { return historyItem(entry, true) })))
    } catch (err) {
      if (isClosed || mine !== generation) return
      list.replaceChildren(h('div', { class: 'card empty' }, unavailable(err, 'history')))
    }
    list.setAttribute('aria-busy', 'false')
  }

  holder.replaceChildren(
    h('div', { class: 'toolbar' }, h('h2', {}, 'Alarm history'), h('div', { class: 'filters' }, district, range)),
    stats,
    list)
  void fillDistricts()
  void load()
  return {
    onAlarmsChanged () {
      clearTimeout(timer)
      timer = setTimeout(function reload () { void load() }, 1000)
    },
    close () { isClosed = true; clearTimeout(timer) },
  }
}

function eventText (event: TimelineEvent): string {
  switch (event.change) {
    case 'raised': return `Raised as ${event.severity}`
    case 'escalated': return `Escalated to ${event.severity}`
    case 'overdue': return `Not acknowledged in time: escalation ${event.escalation ?? '?'}`
    case 'acknowledged': return `Acknowledged by ${event.by ?? '?'}`
    case 'cleared': return 'Cleared'
    case 'flapping': return 'Flapping: raised and cleared too often, kept open'
    case 'unflapping': return 'No longer flapping: clear for the whole window'
  }
}

/** `#/alarm/<id>`. */
export function renderTimeline (holder: HTMLElement, id: string): { onAlarmsChanged: (changed?: Alarm) => void; close: () => void } {
  let isClosed = false
  holder.append(h('p', { class: 'loading' }, 'Loading…'))

  async function load (): Promise<void> {
    try {
      const [timeline] = await Promise.all([alarmTimeline(id), consoleSettings()])
      if (isClosed) return
      const { alarm, events } = timeline
      const raisedMs = Date.parse(alarm.raisedAt)
      holder.replaceChildren(
        h('a', { class: 'back', href: '#/history' }, '← Alarm history'),
        h('section', { class: `card timeline-head sev-${alarm.severity}` },
          h('h2', {}, h('span', { class: `badge sev-${alarm.severity}` }, alarm.severity), ' ', alarmTypeLabel(alarm.type)),
          h('p', { class: 'alarm-message' }, alarm.message),
          h('p', { class: 'alarm-meta' }, h('a', { href: `#/device/${encodeURIComponent(alarm.deviceId)}` }, alarm.deviceId), ` · ${humanize(alarm.kind)} · ${alarm.district} · ${stateText(alarm)}`),
          h('dl', { class: 'durations' },
            h('div', {}, h('dt', {}, 'Time to acknowledge'), h('dd', {}, alarm.timeToAckSec === undefined ? '—' : formatDuration(alarm.timeToAckSec))),
            h('div', {}, h('dt', {}, 'Time to clear'), h('dd', {}, alarm.timeToClearSec === undefined ? '—' : formatDuration(alarm.timeToClearSec)))),
          alarm.location === undefined ? null : h('p', {}, navigateLinks(alarm.location, alarm.deviceId))),
        h('section', { class: 'card' }, h('h3', {}, 'Timeline'),
          h('ol', { class: 'timeline' }, events.map(function step (event) {
            return h('li', { class: `timeline-event change-${event.change} sev-${event.severity}`, 'data-change': event.change },
              h('p', { class: 'timeline-when' }, when(event.at), event.change === 'raised' ? '' : ` · +${formatDuration((Date.parse(event.at) - raisedMs) / 1000)}`),
              h('p', { class: 'timeline-what' }, h('strong', {}, eventText(event))),
              h('p', { class: 'timeline-message' }, event.message,
                event.value === undefined ? '' : ` (value ${event.value}${event.threshold === undefined ? '' : `, threshold ${event.threshold}`})`),
              event.note === undefined || event.note === '' ? null : h('q', {}, event.note))
          }))))
    } catch (err) {
      if (isClosed) return
      holder.replaceChildren(h('a', { class: 'back', href: '#/history' }, '← Alarm history'),
        h('div', { class: 'card empty' }, err instanceof ApiError && err.status === 404 && !isMissingRoute(err) ? `No alarm ${id} in your districts.` : unavailable(err, 'timeline')))
    }
  }

  void load()
  return {
    onAlarmsChanged (changed?: Alarm) { if (changed === undefined || changed.id === id) void load() },
    close () { isClosed = true },
  }
}
