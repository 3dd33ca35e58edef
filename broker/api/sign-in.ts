// One sign-in attempt, by HTTP Basic (any /api route, the alarm stream) or POST /api/session: the
// secret is checked first, so the right one always gets in; a wrong one is counted by the guard and
// answered 401, or 429 beyond API_SIGNIN_PER_MIN. Every outcome is counted; refusals are logged once
// per offender and period.
import type { FastifyBaseLogger } from 'fastify'
import type { LogThrottle } from '../log-throttle.ts'
import type { Auth, Principal } from './auth.ts'
import type { SignInGuard } from './sign-in-guard.ts'

export type SignInMethod = 'basic' | 'session'
export type SignInOutcome = 'ok' | 'refused' | 'locked_out'

export type SignInResult =
  | { readonly outcome: 'ok'; readonly principal: Principal }
  | { readonly outcome: 'refused' }
  | { readonly outcome: 'locked_out'; readonly retryAfterSec: number }

export interface SignInOptions {
  auth: Pick<Auth, 'verify' | 'hasAccount'>
  guard: SignInGuard
  throttle: LogThrottle
  log: FastifyBaseLogger
  onSignIn?: (method: SignInMethod, outcome: SignInOutcome) => void
}

export type SignIn = (method: SignInMethod, name: string, secret: string, ip: string) => SignInResult

/** Longest name put in a log line: a Basic header may carry any text as its name. */
const MAX_LOGGED_NAME = 64

export function createSignIn (options: SignInOptions): SignIn {
  return function signIn (method, name, secret, ip) {
    const principal = options.auth.verify(name, secret)
    if (principal !== undefined) {
      options.onSignIn?.(method, 'ok')
      return { outcome: 'ok', principal }
    }
    const { key, retryAfterSec } = options.guard.failed(name, ip)
    const outcome = retryAfterSec === undefined ? 'refused' : 'locked_out'
    options.onSignIn?.(method, outcome)
    const suppressed = options.throttle.take(`sign-in ${outcome} ${key}`)
    if (suppressed !== undefined) {
      const fields = { name: name.slice(0, MAX_LOGGED_NAME), ip, method, suppressedSinceLast: suppressed }
      if (retryAfterSec === undefined) {
        options.log.info({ ...fields, reason: options.auth.hasAccount(name) ? 'wrong_secret' : 'unknown_name' }, 'sign-in refused')
      } else {
        options.log.warn({ ...fields, reason: 'sign_in_limit', retryAfterSec }, 'sign-in refused: too many failed sign-ins')
      }
    }
    return retryAfterSec === undefined ? { outcome: 'refused' } : { outcome: 'locked_out', retryAfterSec }
  }
}
