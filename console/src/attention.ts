// Getting a crew's attention for a new or escalated critical alarm, or a session that ended: a
// tone made with the Web Audio API (no sound file), a vibration, a system notification (with the
// user's permission, through the service worker when there is one), and the count in the title.
import { h } from './dom.ts'

const BASE_TITLE = 'City sensors'
let audio: AudioContext | undefined

/** Browsers let a page play sound only after a user gesture: the first tap, click or key opens the audio context. */
export function unlockAudioOnFirstGesture (): void {
  const unlock = function unlock (): void {
    if (audio === undefined && typeof AudioContext === 'function') audio = new AudioContext()
    if (audio?.state === 'suspended') void audio.resume()
    for (const type of ['pointerdown', 'keydown', 'touchend'] as const) window.removeEventListener(type, unlock, true)
  }
  for (const type of ['pointerdown', 'keydown', 'touchend'] as const) window.addEventListener(type, unlock, true)
}

/** Three short high beeps, loud enough over street noise. */
function playTone (): void {
  if (audio === undefined || audio.state !== 'running') return
  const start = audio.currentTime
  for (let i = 0; i < 3; i++) {
    const oscillator = audio.createOscillator()
    const gain = audio.createGain()
    oscillator.type = 'square'
    oscillator.frequency.value = 880
    const at = start + i * 0.25
    gain.gain.setValueAtTime(0.0001, at)
    gain.gain.exponentialRampToValueAtTime(0.4, at + 0.02)
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18)
    oscillator.connect(gain).connect(audio.destination)
    oscillator.start(at)
    oscillator.stop(at + 0.2)
  }
}

export interface Alert {
  title: string
  body: string
  /** Same tag: a newer notification replaces the older one. */
  tag: string
  /** The alarm to show when the notification is clicked. */
  alarmId?: string
}

/** Called with an alarm id when the user clicks a notification shown without a service worker. */
let onNotificationClick: (alarmId: string) => void = function nothing () {}

export function setNotificationClickHandler (handler: (alarmId: string) => void): void {
  onNotificationClick = handler
}

async function notify (alert: Alert): Promise<void> {
  if (typeof Notification !== 'function' || Notification.permission !== 'granted') return
  const options: NotificationOptions = { body: alert.body, tag: alert.tag, icon: '/icons/icon-192.png', data: { alarmId: alert.alarmId } }
  const registration = 'serviceWorker' in navigator ? await navigator.serviceWorker.getRegistration() : undefined
  if (registration?.active !== undefined && registration.active !== null) {
    await registration.showNotification(alert.title, { ...options, requireInteraction: true })
    return
  }
  const shown = new Notification(alert.title, options)
  shown.onclick = function clicked () {
    window.focus()
    if (alert.alarmId !== undefined) onNotificationClick(alert.alarmId)
    shown.close()
  }
}

/** Sound, vibration and a system notification, each where the browser allows it. */
export function raiseAlert (alert: Alert): void {
  playTone()
  if (typeof navigator.vibrate === 'function') navigator.vibrate([300, 150, 300, 150, 300])
  notify(alert).catch(function noNotification () { /* the sound, vibration and page still tell */ })
}

/** "(3) City sensors": the open-alarm count where a tab or the task switcher shows it. */
export function showCountInTitle (count: number): void {
  document.title = count > 0 ? `(${count}) ${BASE_TITLE}` : BASE_TITLE
}

/**
 * The "Enable alerts" control: asks for notification permission on a user gesture (browsers
 * ignore the request otherwise) and says plainly what the browser decided.
 */
export function alertsControl (): HTMLElement {
  const holder = h('span', { class: 'alerts-control' })
  const draw = function draw (): void {
    if (typeof Notification !== 'function') {
      holder.replaceChildren(h('span', { class: 'alerts-state' }, 'Sound alerts only'))
    } else if (Notification.permission === 'granted') {
      holder.replaceChildren(h('span', { class: 'alerts-state' }, 'Alerts on'))
    } else if (Notification.permission === 'denied') {
      holder.replaceChildren(h('span', { class: 'alerts-state', title: 'Allow notifications for this site in the browser settings' }, 'Notifications blocked'))
    } else {
      holder.replaceChildren(h('button', { type: 'button', class: 'link enable-alerts', onclick: function ask () {
        Notification.requestPermission().then(draw, draw)
      } }, 'Enable alerts'))
    }
  }
  draw()
  return holder
}
