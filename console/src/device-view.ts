// One device's page: kind, district, online and last seen, its open alarms, its latest readings
// with units, and a chart of one numeric field's recent values from InfluxDB (/series).
import { api, ApiError, type Alarm, type DeviceDetail } from './api.ts'
import { sortAlarms } from './alarms-view.ts'
import { lineChart } from './chart.ts'
import { ago, h, humanize } from './dom.ts'

const RANGES = [[60, '1 h'], [360, '6 h'], [1440, '24 h'], [10080, '7 d']] as const
let chosen: { field: string; minutes: number } = { field: '', minutes: 60 }

function formatReading (value: number | boolean, unit: string | undefined): string {
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  const rounded = Number.isInteger(value) ? String(value) : value.toFixed(Math.abs(value) < 10 ? 2 : 1)
  return unit === undefined ? rounded : `${rounded} ${unit}`
}

export function renderDevice (holder: HTMLElement, id: string, alarms: () => Alarm[]): { onAlarmsChanged: () => void; close: () => void } {
  let isClosed = false
  holder.append(h('p', { class: 'loading' }, 'Loading…'))

  async function load (): Promise<void> {
    let device: DeviceDetail
    try {
      device = await api.device(id)
    } catch (err) {
      holder.replaceChildren(h('div', { class: 'card empty' }, err instanceof ApiError && err.status === 404 ? `No device ${id} in your districts.` : 'The gateway did not answer.'), h('a', { href: '#/devices' }, '← All devices'))
      return
    }
    if (isClosed) return
    const numeric = device.fields.filter(function isNumeric (f) { return f.type !== 'boolean' && f.name !== 'seq' })
    if (!numeric.some(function isChosen (f) { return f.name === chosen.field })) chosen = { ...chosen, field: numeric[0]?.name ?? '' }
    const chartBox = h('div', { class: 'chart-box' }, h('p', { class: 'muted' }, 'Loading values…'))
    const rows = device.fields.filter(function hasValue (f) { return device.latest[f.name] !== undefined }).map(function row (f) {
      const latest = device.latest[f.name]
      return h('tr', {}, h('th', { scope: 'row', title: f.description ?? '' }, humanize(f.name)), h('td', { class: 'value' }, latest === undefined ? '' : formatReading(latest.value, f.unit)))
    })
    const own = sortAlarms(alarms().filter(function isOwn (a) { return a.deviceId === id }))
    const field = h('select', { 'aria-label': 'Field', onchange: function pickField () { chosen = { ...chosen, field: field.value }; void drawChart() } },
      numeric.map(function option (f) { return h('option', { value: f.name, selected: f.name === chosen.field }, humanize(f.name)) }))
    const range = h('select', { 'aria-label': 'Time range', onchange: function pickRange () { chosen = { ...chosen, minutes: Number(range.value) }; void drawChart() } },
      RANGES.map(function option ([minutes, text]) { return h('option', { value: minutes, selected: minutes === chosen.minutes }, text) }))

    async function drawChart (): Promise<void> {
      const info = numeric.find(function isChosen (f) { return f.name === chosen.field })
      if (info === undefined) return
      try {
        const series = await api.series(id, info.name, chosen.minutes)
        chartBox.replaceChildren(series.points.length === 0
          ? h('p', { class: 'muted' }, 'No stored values in this time range yet.')
          : lineChart(series.points, info.unit ?? '', humanize(info.name), chartBox.clientWidth))
      } catch (err) {
        chartBox.replaceChildren(h('p', { class: 'muted' }, err instanceof ApiError ? `No chart: ${err.message}` : 'No chart: the gateway did not answer.'))
      }
    }

    holder.replaceChildren(
      h('a', { class: 'back', href: '#/devices' }, '← All devices'),
      h('section', { class: 'card device-head' },
        h('h2', {}, device.id, h('span', { class: `dot ${device.online ? 'on' : 'off'}`, title: device.online ? 'connected' : 'not connected' })),
        h('p', { class: 'muted' }, `${humanize(device.kind)} · ${device.district}`, device.location === undefined ? '' : ` · ${device.location.lat.toFixed(5)}, ${device.location.lon.toFixed(5)}`),
        h('p', {}, device.online ? 'Connected' : 'Not connected', ' · last reading ', device.lastSeen === null ? 'none since the gateway started' : ago(device.lastSeen))),
      own.length === 0 ? '' : h('section', { class: 'card' }, h('h3', {}, 'Open alarms'), h('ul', { class: 'plain' }, own.map(function item (a) {
        return h('li', {}, h('span', { class: `badge sev-${a.severity}` }, a.severity), ' ', a.message, a.state === 'acknowledged' ? ` (acknowledged by ${a.ackedBy ?? '?'})` : '')
      }))),
      h('div', { class: 'device-grid' },
        h('section', { class: 'card' }, h('h3', {}, 'Latest readings'),
          rows.length === 0 ? h('p', { class: 'muted' }, 'No readings since the gateway started.') : h('table', { class: 'readings' }, h('tbody', {}, rows))),
        h('section', { class: 'card' }, h('div', { class: 'chart-head' }, h('h3', {}, 'Recent values'), field, range), chartBox)))
    await drawChart()
  }

  void load()
  return {
    onAlarmsChanged () { void load() },
    close () { isClosed = true },
  }
}
