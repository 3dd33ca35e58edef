// The open-alarms list: filters by district and severity, cards sorted by severity then age
// (oldest first), each card keyed by alarm id and updated in place. While the user is working
// in the list (pointer or finger over it, focus inside it, or scrolled away from its top), new
// alarms and re-sorts are held behind an "N new alarms" bar so nothing moves under the finger.
import type { Alarm, Principal } from './api.ts'
import { alarmCard, type AlarmCard, type CardActions } from './alarm-card.ts'
import { h, humanize } from './dom.ts'
import { renderIncidents } from './incidents-view.ts'

export interface AlarmFilters { district: string; severity: string }

export interface AlarmsViewContext extends CardActions {
  me: Principal
  /** Open alarms (active and acknowledged) as the console knows them now. */
  alarms(): Alarm[]
  /** Every district the caller may see (its devices' and its own), not only those with alarms now. */
  districts(): Promise<string[]>
  /** Kept by the caller so a filter survives leaving the page. */
  filters: AlarmFilters
}

export interface AlarmsView {
  onAlarmsChanged(changed?: Alarm): void
  /** Brings an alarm's card into view and focus (a clicked notification). */
  reveal(alarmId: string): void
  close(): void
}

const SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const
const RANK: Record<string, number> = { critical: 0, major: 1, minor: 2, warning: 3 }
const AGE_REFRESH_MS = 30_000

export function sortAlarms (alarms: Alarm[]): Alarm[] {
  return [...alarms].sort(function bySeverityThenAge (a, b) {
    return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) || a.raisedAt.localeCompare(b.raisedAt)
  })
}

/** Open = active + acknowledged: what the tab badge, the title and the pills all count. */
export function openCount (alarms: Alarm[]): number {
  return alarms.filter(function isOpen (a) { return a.state !== 'cleared' }).length
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

export function renderAlarms (holder: HTMLElement, ctx: AlarmsViewContext): AlarmsView {
  const cards = new Map<string, AlarmCard>()
  let pointerInside = false
  let closed = false

  const districtSelect = h('select', { 'aria-label': 'District', onchange: function pickDistrict () { ctx.filters.district = districtSelect.value; sync(true) } })
  const severitySelect = h('select', { 'aria-label': 'Severity', onchange: function pickSeverity () { ctx.filters.severity = severitySelect.value; sync(true) } },
    h('option', { value: '' }, 'All severities'),
    SEVERITIES.map(function option (s) { return h('option', { value: s, selected: s === ctx.filters.severity }, humanize(s)) }))
  const counts = h('div', { class: 'counts' })
  const toAcknowledge = h('p', { class: 'to-ack' })
  const bar = h('button', { type: 'button', class: 'new-alarms', hidden: true, onclick: function showHeld () { sync(true, true) } })
  const list = h('ul', { class: 'alarm-list' })
  const empty = h('div', { class: 'empty card' })
  const section = h('section', { class: 'alarm-section', 'aria-label': 'Open alarms' }, h('div', { class: 'new-alarms-anchor' }, bar), list, empty)

  const incidentsHolder = h('div', { class: 'incidents-holder' })
  holder.classList.add('alarms-view')
  holder.replaceChildren(
    incidentsHolder,
    h('div', { class: 'toolbar' },
      h('h2', {}, 'Open alarms'),
      counts,
      toAcknowledge,
      h('div', { class: 'filters' }, districtSelect, severitySelect)),
    section)
  const incidents = renderIncidents(incidentsHolder, ctx)

  // When the user stops working in the list (finger lifted, focus gone, scrolled back to the
  // top), what was held goes in as if it had just arrived.
  let releaseTimer: ReturnType<typeof setTimeout> | undefined
  function releaseSoon (): void {
    clearTimeout(releaseTimer)
    releaseTimer = setTimeout(function release () { if (!bar.hidden && !interacting()) sync() }, 800)
  }
  section.addEventListener('pointerenter', function enter () { pointerInside = true })
  section.addEventListener('pointerleave', function leave () { pointerInside = false; releaseSoon() })
  section.addEventListener('pointercancel', function cancel () { pointerInside = false; releaseSoon() })
  section.addEventListener('focusout', releaseSoon)
  window.addEventListener('scroll', releaseSoon, { passive: true })

  let knownDistricts: string[] = []
  function drawDistricts (): void {
    const all = new Set([...knownDistricts, ...(ctx.me.districts ?? []), ...ctx.alarms().map(function district (a) { return a.district })])
    if (ctx.filters.district !== '') all.add(ctx.filters.district)
    const wanted = ['', ...[...all].sort()]
    const have = [...districtSelect.options].map(function value (o) { return o.value })
    if (wanted.join('\n') === have.join('\n')) return
    districtSelect.replaceChildren(...wanted.map(function option (d) { return h('option', { value: d, selected: d === ctx.filters.district }, d === '' ? 'All districts' : d) }))
  }
  ctx.districts().then(function gotDistricts (districts) {
    knownDistricts = districts
    if (!closed) drawDistricts()
  }, function noDistricts () { /* the list still offers the districts of open alarms */ })

  function matches (a: Alarm): boolean {
    return (ctx.filters.district === '' || a.district === ctx.filters.district) && (ctx.filters.severity === '' || a.severity === ctx.filters.severity)
  }

  /** Tabs and header stay on top of the page; the list's top is "visible" below them. */
  function listTopHidden (): boolean {
    const coveredTo = document.querySelector('.tabs')?.getBoundingClientRect().bottom ?? 0
    return section.getBoundingClientRect().top < coveredTo - 1
  }

  function interacting (): boolean {
    return pointerInside || section.contains(document.activeElement) || listTopHidden()
  }

  function drawCounts (alarms: Alarm[]): void {
    counts.replaceChildren(...SEVERITIES.flatMap(function countOf (s) {
      const n = alarms.filter(function isOf (a) { return a.severity === s }).length
      return n === 0 ? [] : [h('span', { class: `pill sev-${s}` }, `${n} ${s}`)]
    }))
    const active = alarms.filter(function isActive (a) { return a.state === 'active' }).length
    toAcknowledge.textContent = alarms.length === 0 ? '' : `${plural(alarms.length, 'open alarm')}, ${active} to acknowledge`
  }

  /**
   * Brings the list in line with the alarms. Cards always update in place; cards are added,
   * removed and re-sorted only when the user is not working in the list, or `force` (the bar).
   */
  function sync (force = false, scrollToTop = false, changed?: Alarm): void {
    if (closed) return
    const alarms = ctx.alarms()
    drawCounts(alarms)
    drawDistricts()
    const wanted = sortAlarms(alarms.filter(matches))
    const byId = new Map(wanted.map(function entry (a) { return [a.id, a] }))
    for (const [id, card] of cards) {
      const alarm = byId.get(id)
      if (alarm !== undefined) card.update(alarm)
      else card.markGone(changed?.id === id ? changed.state === 'cleared' : true)
    }
    const fresh = wanted.filter(function isNew (a) { return !cards.has(a.id) })
    const shownOrder = [...list.children].map(function idOf (el) { return (el as HTMLElement).dataset.alarmId ?? '' })
    const wantedOrder = wanted.map(function id (a) { return a.id })
    const reordered = wantedOrder.filter(function kept (id) { return cards.has(id) }).join('\n') !== shownOrder.filter(function kept (id) { return byId.has(id) }).join('\n')
    const goneCount = [...cards.values()].filter(function isGone (c) { return c.isGone }).length
    const hold = !force && cards.size > 0 && interacting() && (fresh.length > 0 || reordered || goneCount > 0)

    if (hold) {
      drawBar(fresh, goneCount)
    } else {
      for (const [id, card] of cards) {
        if (card.isGone) { card.el.remove(); cards.delete(id) }
      }
      for (const alarm of fresh) cards.set(alarm.id, alarmCard(alarm, ctx))
      wanted.forEach(function place (alarm, index) {
        const el = cards.get(alarm.id)?.el
        if (el !== undefined && list.children[index] !== el) list.insertBefore(el, list.children[index] ?? null)
      })
      bar.hidden = true
      if (scrollToTop) {
        section.scrollIntoView({ block: 'start' })
        window.scrollBy(0, -((document.querySelector('.tabs')?.getBoundingClientRect().height ?? 0) + 8))
        const first = list.firstElementChild
        if (first instanceof HTMLElement) first.focus({ preventScroll: true })
      }
    }
    list.hidden = cards.size === 0
    empty.hidden = cards.size > 0
    empty.textContent = alarms.length === 0 ? 'No open alarms. New ones appear here as they are raised.' : 'No open alarms match these filters.'
  }

  function drawBar (fresh: Alarm[], goneCount: number): void {
    const worst = sortAlarms(fresh)[0]
    if (worst !== undefined) {
      bar.className = `new-alarms sev-${worst.severity}`
      bar.textContent = `↑ ${plural(fresh.length, 'new alarm')} · ${worst.severity}`
    } else {
      bar.className = 'new-alarms'
      bar.textContent = goneCount > 0 ? `↑ ${plural(goneCount, 'alarm')} cleared · update the list` : '↑ Alarms changed order · update the list'
    }
    bar.hidden = false
  }

  sync(true)
  const ageTimer = setInterval(function refreshAges () {
    for (const card of cards.values()) card.refreshAges()
  }, AGE_REFRESH_MS)

  return {
    onAlarmsChanged (changed?: Alarm) {
      sync(false, false, changed)
      incidents.refresh()
    },
    reveal (alarmId: string) {
      if (!cards.has(alarmId)) sync(true)
      const el = cards.get(alarmId)?.el
      if (el === undefined) return
      el.scrollIntoView({ block: 'center' })
      el.focus({ preventScroll: true })
    },
    close () {
      closed = true
      incidents.close()
      clearInterval(ageTimer)
      clearTimeout(releaseTimer)
      window.removeEventListener('scroll', releaseSoon)
      holder.classList.remove('alarms-view')
    },
  }
}
