// One device's page: kind, district, online, signal and last seen, navigate links, its open
// alarms, its latest readings with units, a chart of one numeric field's recent values from
// InfluxDB (/series), and its alarms of the last 7 days. Alarm changes of other devices leave the
// page alone; the device's own change updates its alarm sections, status line and readings in
// place (never the chart, whose field and range stay as chosen).
import './history.css'
import { api, ApiError, type Alarm, type DeviceDetail, type FieldInfo } from './api.ts'
import { sortAlarms } from './alarms-view.ts'
import { lineChart } from './chart.ts'
import { consoleSettings } from './console-settings.ts'
import { ago, h, humanize } from './dom.ts'
import { alarmHistory, isMissingRoute } from './history-api.ts'
import { historyItem } from './history-view.ts'
import { navigateLinks } from './navigate.ts'

const RANGES = [[60, '1 h'], [360, '6 h'], [1440, '24 h'], [10080, '7 d']] as const
/** Envelope fields that are not readings: the frame counter, and the signal (shown in the header). */
const NOT_READINGS = new Set(['seq', 'rssi'])
const HISTORY_HOURS = 7 * 24
let chosen: { field: string; minutes: number } = { field: '', minutes: 60 }

/** "10", "7.20", "231 V": a unit of "1" (a plain number) or one that repeats the label is left out. */
export function formatReading (value: number | boolean, field: Pick<FieldInfo, 'unit' | 'label'>): string {
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  const rounded = Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 2 : 1)
  const unit = field.unit
  return unit === undefined || unit === '1' || unit === field.label ? rounded : `${rounded} ${unit}`
}

function chartUnit (field: FieldInfo): string {
  return field.unit === undefined || field.unit === '1' ? '' : field.unit
}

export function renderDevice (holder: HTMLElement, id: string, alarms: () => Alarm[]): { onAlarmsChanged: (changed?: Alarm) => void; close: () => void } {
  let isClosed = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const openSection = h('section', { class: 'card device-alarms', 'aria-label': 'Open alarms' })
  const historySection = h('section', { class: 'card device-history', 'aria-label': 'Alarms of the last 7 days' })
  const statusLine = h('p', { class: 'device-status' })
  const readings = h('div', { class: 'device-readings' })
  holder.append(h('p', { class: 'loading' }, 'Loading…'))

  function drawOpenAlarms (): void {
    const own = sortAlarms(alarms().filter(function isOwn (a) { return a.deviceId === id }))
    openSection.hidden = own.length === 0
    openSection.replaceChildren(h('h3', {}, 'Open alarms'), h('ul', { class: 'plain' }, own.map(function item (a) {
      return h('li', { 'data-alarm-id': a.id }, h('span', { class: `badge sev-${a.severity}` }, a.severity), ' ', a.message,
        a.state === 'acknowledged' ? ` (acknowledged by ${a.ackedBy ?? '?'})` : '', ' ', h('a', { href: `#/alarm/${encodeURIComponent(a.id)}` }, 'Timeline'))
    })))
  }

  async function drawHistory (): Promise<void> {
    const heading = h('h3', {}, 'Alarms, last 7 days')
    try {
      const history = await alarmHistory({ deviceId: id, hours: HISTORY_HOURS, limit: 100 })
      if (isClosed) return
      historySection.replaceChildren(heading,
        history.partial === true ? h('p', { class: 'history-warning', role: 'note' }, history.warning ?? 'Some history could not be read.') : '',
        history.alarms.length === 0
          ? h('p', { class: 'muted' }, 'No alarms in the last 7 days.')
          : h('ul', { class: 'history-list compact' }, history.alarms.map(function item (entry) { return historyItem(entry, false) })))
    } catch (err) {
      historySection.replaceChildren(heading, h('p', { class: 'muted' }, isMissingRoute(err) ? 'History is not available on this gateway.' : err instanceof ApiError ? `No history: ${err.message}` : 'No history: the gateway did not answer.'))
    }
  }

  /** The status line and the readings table, from a fresh device answer. */
  function drawState (device: DeviceDetail): void {
    const rssi = device.latest.rssi?.value
    statusLine.replaceChildren(device.online ? 'Connected' : 'Not connected', ' · last reading ', device.lastSeen === null ? 'none since the gateway started' : ago(device.lastSeen),
      typeof rssi === 'number' ? ` · signal ${formatReading(rssi, { unit: 'dBm', label: 'Signal' })}` : '')
    const rows = device.fields.filter(function isReading (f) { return !NOT_READINGS.has(f.name) && device.latest[f.name] !== undefined }).map(function row (f) {
      const latest = device.latest[f.name]
      return h('tr', { 'data-field': f.name }, h('th', { scope: 'row', title: f.description ?? '' }, f.label), h('td', { class: 'value' }, latest === undefined ? '' : formatReading(latest.value, f)))
    })
    readings.replaceChildren(rows.length === 0 ? h('p', { class: 'muted' }, 'No readings since the gateway started.') : h('table', { class: 'readings' }, h('tbody', {}, rows)))
  }

  async function refreshState (): Promise<void> {
    try {
      const device = await api.device(id)
      if (!isClosed) drawState(device)
    } catch {
      // Keeps what it shows; the next change tries again.
    }
  }

  async function load (): Promise<void> {
    let device: DeviceDetail
    try {
      [device] = await Promise.all([api.device(id), consoleSettings()])
    } catch (err) {
      holder.replaceChildren(h('div', { class: 'card empty' }, err instanceof ApiError && err.status === 404 ? `No device ${id} in your districts.` : 'The gateway did not answer.'), h('a', { href: '#/devices' }, '← All devices'))
      return
    }
    if (isClosed) return
    const numeric = device.fields.filter(function isNumeric (f) { return f.type !== 'boolean' && f.name !== 'seq' })
    if (!numeric.some(function isChosen (f) { return f.name === chosen.field })) chosen = { ...chosen, field: numeric[0]?.name ?? '' }
    const chartBox = h('div', { class: 'chart-box' }, h('p', { class: 'muted' }, 'Loading values…'))
    const field = h('select', { 'aria-label': 'Field', onchange: function pickField () { chosen = { ...chosen, field: field.value }; void drawChart() } },
      numeric.map(function option (f) { return h('option', { value: f.name, selected: f.name === chosen.field }, f.label) }))
    const range = h('select', { 'aria-label': 'Time range', onchange: function pickRange () { chosen = { ...chosen, minutes: Number(range.value) }; void drawChart() } },
      RANGES.map(function option ([minutes, text]) { return h('option', { value: minutes, selected: minutes === chosen.minutes }, text) }))

    /** Answers can arrive out of order (a field, then a range, picked quickly): only the latest is drawn. */
    let drawn = 0
    async function drawChart (): Promise<void> {
      const info = numeric.find(function isChosen (f) { return f.name === chosen.field })
      if (info === undefined) return
      const ticket = ++drawn
      try {
        const series = await api.series(id, info.name, chosen.minutes)
        if (isClosed || ticket !== drawn) return
        // What is drawn, for readers of the page (and its tests): field and range of the latest choice.
        chartBox.dataset.field = info.name
        chartBox.dataset.minutes = String(chosen.minutes)
        chartBox.replaceChildren(series.points.length === 0
          ? h('p', { class: 'muted' }, 'No stored values in this time range yet.')
          : lineChart(series.points, chartUnit(info), info.label, chartBox.clientWidth))
      } catch (err) {
        if (isClosed || ticket !== drawn) return
        chartBox.replaceChildren(h('p', { class: 'muted' }, err instanceof ApiError ? `No chart: ${err.message}` : 'No chart: the gateway did not answer.'))
      }
    }

    drawOpenAlarms()
    drawState(device)
    holder.replaceChildren(
      h('a', { class: 'back', href: '#/devices' }, '← All devices'),
      h('section', { class: 'card device-head' },
        h('h2', {}, device.id, h('span', { class: `dot ${device.online ? 'on' : 'off'}`, title: device.online ? 'connected' : 'not connected' })),
        h('p', { class: 'muted' }, `${humanize(device.kind)} · ${device.district}`, device.location === undefined ? '' : ` · ${device.location.lat.toFixed(5)}, ${device.location.lon.toFixed(5)}`),
        statusLine,
        device.location === undefined ? null : h('p', {}, navigateLinks(device.location, device.id))),
      openSection,
      h('div', { class: 'device-grid' },
        h('section', { class: 'card' }, h('h3', {}, 'Latest readings'), readings),
        h('section', { class: 'card' }, h('div', { class: 'chart-head' }, h('h3', {}, 'Recent values'), field, range), chartBox)),
      historySection)
    await Promise.all([drawChart(), drawHistory()])
  }

  void load()
  return {
    onAlarmsChanged (changed?: Alarm) {
      // Another device's alarm: nothing here changes.
      if (changed !== undefined && changed.deviceId !== id) return
      drawOpenAlarms()
      clearTimeout(timer)
      timer = setTimeout(function redrawOwn () { void refreshState(); void drawHistory() }, 500)
    },
    close () {
      isClosed = true
      clearTimeout(timer)
    },
  }
}
