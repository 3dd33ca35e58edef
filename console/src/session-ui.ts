// Signing in, and what the page says when a session ends: a loud notice that this phone no
// longer receives alarms, then one button to sign in again on a trusted device (device cookie,
// POST /api/session/resume) or the sign-in form with the name already filled in.
import { api, ApiError, type Principal } from './api.ts'
import { h } from './dom.ts'

/** Why the sign-in page is shown: first visit, the session ended by itself, or the user signed out. */
export type SignInReason = 'load' | 'ended' | 'signed-out'

export interface SignInOptions {
  reason: SignInReason
  /** The account of this browser's device cookie, if the gateway knows one. */
  deviceAccount: string | null
  /** Prefilled in the form (the last signed-in name). */
  name: string
  onSignedIn: (me: Principal) => void
}

/** Phones are usually one person's; a desktop in a control room is shared. */
function rememberByDefault (): boolean {
  return window.matchMedia('(pointer: coarse)').matches
}

function signInForm (options: SignInOptions, message: { text: string; isError: boolean }): HTMLFormElement {
  const name = h('input', { name: 'name', autocomplete: 'username', required: true, autocapitalize: 'off', spellcheck: 'false', maxlength: 64, value: options.name })
  const secret = h('input', { name: 'secret', type: 'password', autocomplete: 'current-password', required: true, maxlength: 256 })
  const remember = h('input', { name: 'remember', type: 'checkbox', checked: rememberByDefault() })
  const status = h('p', { class: message.isError ? 'form-error' : 'form-status', role: message.isError ? 'alert' : 'status' }, message.text)
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in')
  const form = h('form', { class: 'sign-in', onsubmit: function submit (event: Event) {
    event.preventDefault()
    button.disabled = true
    status.className = 'form-status'
    status.textContent = 'Signing in…'
    api.signIn(name.value.trim(), secret.value, remember.checked).then(options.onSignedIn, function refused (err: unknown) {
      button.disabled = false
      status.className = 'form-error'
      status.setAttribute('role', 'alert')
      status.textContent = err instanceof ApiError && err.status === 401 ? 'Unknown name or wrong secret.' : err instanceof ApiError && err.status === 429 ? 'Too many attempts: wait a minute.' : 'The gateway did not answer. Try again.'
    })
  } },
  h('label', {}, 'Name', name),
  h('label', {}, 'Secret', secret),
  h('label', { class: 'check' }, remember, 'Keep this device signed in (30 days)'),
  status,
  button)
  // The field to type in next: the name, or the secret when the name is known.
  const first = options.name === '' ? name : secret
  first.setAttribute('autofocus', '')
  requestAnimationFrame(function focusFirst () { if (first.isConnected) first.focus() })
  return form
}

function endedNotice (): HTMLElement {
  return h('div', { class: 'session-ended', role: 'alert' },
    h('h2', {}, 'This phone no longer receives alarms'),
    h('p', {}, 'Your session ended (signed out elsewhere, expired or revoked). Sign in again to receive alarms.'))
}

export function signInPage (options: SignInOptions): HTMLElement {
  const card = h('div', { class: 'sign-in-card card' })
  const page = h('main', { class: 'sign-in-page' }, options.reason === 'ended' ? endedNotice() : null, card)
  const message = options.reason === 'signed-out' ? { text: 'Signed out.', isError: false } : { text: '', isError: false }

  function showForm (text = message.text, isError = message.isError): void {
    card.replaceChildren(
      h('h1', {}, 'City sensors'),
      h('p', { class: 'muted' }, 'Crew console: sign in with your crew or operator name and secret.'),
      signInForm(options, { text, isError }))
  }

  function showResume (account: string): void {
    const status = h('p', { class: 'form-status', role: 'status' })
    const resume = h('button', { type: 'button', class: 'primary resume' }, `Sign in again as ${account}`)
    resume.addEventListener('click', function resumeSession () {
      resume.disabled = true
      status.textContent = 'Signing in…'
      api.resume().then(options.onSignedIn, function refused (err: unknown) {
        if (err instanceof ApiError) {
          options.name = account
          showForm('This device is no longer trusted: sign in with your secret.', true)
        } else {
          resume.disabled = false
          status.textContent = 'The gateway did not answer. Try again.'
        }
      })
    })
    card.replaceChildren(
      h('h1', {}, 'City sensors'),
      h('p', { class: 'muted' }, 'This device is trusted: one step to receive alarms again.'),
      resume,
      status,
      h('button', { type: 'button', class: 'link other-account', onclick: function other () { options.name = ''; showForm() } }, 'Use another account'))
    requestAnimationFrame(function focusResume () { if (resume.isConnected) resume.focus() })
  }

  if (options.deviceAccount !== null) showResume(options.deviceAccount)
  else showForm()
  return page
}

/** The page when the gateway cannot be reached and no session is known. */
export function offlinePage (onRetry: () => void): HTMLElement {
  return h('main', { class: 'sign-in-page' },
    h('div', { class: 'offline-notice', role: 'alert' },
      h('h2', {}, 'Offline — alarms are not being received'),
      h('p', {}, 'The gateway cannot be reached from this device. The console connects again by itself when the network is back.'),
      h('button', { type: 'button', class: 'primary', onclick: onRetry }, 'Try again')))
}
