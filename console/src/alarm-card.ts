// One alarm's card, built once and updated in place as the alarm changes (severity, state,
// acknowledgement), so focus, caret and a typed note survive live updates. Acknowledging shows
// its progress and any failure on the card itself, keeps the note and offers a retry.
import { ApiError, type Alarm } from './api.ts'
import { ago, h, humanize } from './dom.ts'
import { navigateLinks } from './navigate.ts'

export interface CardActions {
  acknowledge(alarm: Alarm, note: string): Promise<Alarm>
  /** The gateway said the alarm is no longer active (409): the list should be reloaded. */
  onStale(): void
  onSessionEnded(): void
}

export interface AlarmCard {
  readonly el: HTMLLIElement
  update(alarm: Alarm): void
  /** Marks the card of an alarm that left the open list while the card must stay where it is. */
  markGone(cleared: boolean): void
  readonly isGone: boolean
  refreshAges(): void
}

/** Notes typed but not sent, by alarm id: they outlive a card (filters, leaving the page). */
const drafts = new Map<string, string>()

function failureText (err: unknown): string {
  if (!(err instanceof ApiError)) return 'Not acknowledged: no network. Your note is kept.'
  if (err.status === 409) return `Not acknowledged: ${err.message}.`
  if (err.status === 404) return 'Not acknowledged: this alarm is no longer open.'
  if (err.status === 503) return 'Not acknowledged: the gateway could not store it. Your note is kept.'
  if (err.status === 401) return 'Not acknowledged: your session ended. Your note is kept.'
  return `Not acknowledged: ${err.message}. Your note is kept.`
}

export function alarmCard (initial: Alarm, actions: CardActions): AlarmCard {
  let alarm = initial
  let busy = false
  let gone = false

  const badge = h('span', { class: 'badge' })
  // Raised and cleared too often: kept open by the gateway, not pushed again until it stays clear.
  const flappingBadge = h('span', { class: 'badge flapping', title: 'Raised and cleared too often: kept open until it stays clear' }, 'flapping')
  const type = h('strong', { class: 'alarm-type' })
  const stateText = h('span', { class: 'state' })
  const message = h('p', { class: 'alarm-message' })
  const raised = h('time', {})
  const deviceLink = h('a', {})
  const where = document.createTextNode('')
  const navigate = h('div', { class: 'alarm-navigate' })
  const error = h('p', { class: 'ack-error', role: 'alert' })
  const ackArea = h('div', { class: 'ack-area' })

  const note = h('input', {
    class: 'note',
    placeholder: 'Note (optional)',
    maxlength: 500,
    'data-focus-key': `note-${alarm.id}`,
    value: drafts.get(alarm.id) ?? '',
    oninput: function keepDraft () { drafts.set(alarm.id, note.value) },
  })
  const button = h('button', { type: 'submit', class: 'primary' }, 'Acknowledge')
  const form = h('form', { class: 'ack', onsubmit: function submit (event: Event) {
    event.preventDefault()
    if (busy) return
    busy = true
    // aria-disabled, not disabled: a disabled button drops the keyboard focus to the page.
    button.setAttribute('aria-disabled', 'true')
    button.textContent = 'Acknowledging…'
    error.textContent = ''
    actions.acknowledge(alarm, note.value.trim()).then(function acknowledged (updated) {
      busy = false
      drafts.delete(alarm.id)
      note.value = ''
      update(updated)
    }, function failed (err: unknown) {
      busy = false
      button.removeAttribute('aria-disabled')
      button.textContent = 'Retry acknowledge'
      error.textContent = failureText(err)
      if (err instanceof ApiError && err.status === 409) actions.onStale()
      if (err instanceof ApiError && err.status === 401) actions.onSessionEnded()
    })
  } }, note, button)
  const acked = h('p', { class: 'acked' })

  const el = h('li', { class: 'alarm card', 'data-alarm-id': alarm.id, 'data-device-id': alarm.deviceId, tabindex: -1 },
    h('div', { class: 'alarm-head' }, badge, type, stateText),
    message,
    h('p', { class: 'alarm-meta' }, deviceLink, where, raised),
    navigate,
    ackArea,
    error)

  function ackedText (): void {
    acked.replaceChildren(`Acknowledged by ${alarm.ackedBy ?? '?'} `, h('time', { datetime: alarm.updatedAt }, ago(alarm.updatedAt)), ...(alarm.ackNote === undefined ? [] : [h('q', {}, alarm.ackNote)]))
  }

  function update (next: Alarm): void {
    const before = alarm
    alarm = next
    el.className = `alarm card sev-${alarm.severity} state-${gone ? 'cleared' : alarm.state}`
    badge.className = `badge sev-${alarm.severity}`
    badge.textContent = alarm.severity
    // In the card only while flapping.
    if (alarm.flapping !== true) flappingBadge.remove()
    else if (!flappingBadge.isConnected) type.after(flappingBadge)
    type.textContent = humanize(alarm.type)
    if (!gone) stateText.textContent = alarm.state === 'active' ? 'Active' : alarm.state === 'acknowledged' ? 'Acknowledged' : 'Cleared'
    message.textContent = alarm.message
    deviceLink.href = `#/device/${encodeURIComponent(alarm.deviceId)}`
    deviceLink.textContent = alarm.deviceId
    where.textContent = ` · ${alarm.district} · ${alarm.kind} · raised `
    raised.dateTime = alarm.raisedAt
    raised.title = new Date(alarm.raisedAt).toLocaleString()
    raised.textContent = ago(alarm.raisedAt)
    note.setAttribute('aria-label', `Note for ${humanize(alarm.type)} at ${alarm.deviceId}`)
    if (alarm.location !== undefined && (before.location === undefined || navigate.childElementCount === 0 || before.location.lat !== alarm.location.lat || before.location.lon !== alarm.location.lon)) {
      navigate.replaceChildren(navigateLinks(alarm.location, `${alarm.deviceId} (${humanize(alarm.type)})`))
    }
    const wanted = gone || alarm.state === 'cleared' ? null : alarm.state === 'active' ? form : acked
    if (wanted === acked) ackedText()
    if (ackArea.firstElementChild !== wanted) {
      // The form may be about to go (acknowledged elsewhere, cleared): keep the keyboard on this card.
      const hadFocus = ackArea.contains(document.activeElement)
      ackArea.replaceChildren(...(wanted === null ? [] : [wanted]))
      if (hadFocus) el.focus()
    }
  }

  update(alarm)
  return {
    el,
    update,
    get isGone () { return gone },
    markGone (cleared: boolean) {
      if (gone) return
      gone = true
      stateText.textContent = cleared ? 'Cleared' : 'No longer shown'
      update(alarm)
    },
    refreshAges () {
      raised.textContent = ago(alarm.raisedAt)
      const ackedTime = acked.querySelector('time')
      if (ackedTime !== null) ackedTime.textContent = ago(alarm.updatedAt)
    },
  }
}
