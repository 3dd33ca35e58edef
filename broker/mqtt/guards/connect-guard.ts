// One CONNECT → admitted Identity or a refusal with its CONNACK code and delay: keepalive bounds,
// failed-login lockout and backoff around authenticateClient, then what the identity may ask for
// at CONNECT (a will, a client id, a persistent session). Counts and logs (once per offender and
// period) here; hooks.ts only turns the decision into Aedes' callback.
import type { Metrics } from '../../http/metrics.ts'
import type { Logger } from '../../log.ts'
import type { Registry } from '../../registry/registry.ts'
import { authenticateClient, type Identity } from '../authenticate.ts'
import type { CrewSessions } from './crew-sessions.ts'
import type { LogThrottle } from '../../log-throttle.ts'
import { createLoginGuard, type LoginGuardOptions } from './login-guard.ts'

export interface ConnectAttempt {
  clientId: string
  username: string | undefined
  password: Buffer | undefined
  keepaliveSec: number | undefined
  ip: string
  clientCertCn: string | undefined
  /** Topic of the CONNECT's will message, if it has one. */
  willTopic: string | undefined
  /** The CONNECT's clean-session flag. */
  clean: boolean
}

export type ConnectDecision =
  | { ok: true; identity: Identity }
  /** returnCode goes into the CONNACK [MQTT-3.2.2-3]; the refusal is sent after delayMs. */
  | { ok: false; reason: string; returnCode: 2 | 4 | 5; delayMs: number }

export interface ConnectGuardOptions {
  registry: Registry
  metrics: Metrics
  log: Logger
  throttle: LogThrottle
  keepaliveMaxSec: number
  login: LoginGuardOptions
  crewSessions: CrewSessions
}

export interface ConnectGuard {
  decide(attempt: ConnectAttempt): ConnectDecision
}

export function createConnectGuard (options: ConnectGuardOptions): ConnectGuard {
  const { registry, metrics, log, throttle } = options
  const logins = createLoginGuard(options.login)

  function refuse (attempt: ConnectAttempt, reason: string, returnCode: 2 | 4 | 5, delayMs = 0, detail: Record<string, unknown> = {}): ConnectDecision {
    metrics.authFailures.inc({ reason })
    const suppressed = throttle.take(`connect:${attempt.ip}`)
    if (suppressed !== undefined) {
      log.warn({ clientId: attempt.clientId, username: attempt.username, ip: attempt.ip, reason, suppressedSinceLast: suppressed, ...detail }, 'connection refused')
    }
    return { ok: false, reason, returnCode, delayMs }
  }

  /** What an authenticated client may not ask for at CONNECT, if it asked for it. */
  function refusedRequest (identity: Identity, attempt: ConnectAttempt): { reason: string; returnCode: 2 | 5 } | undefined {
    // A will is published by the gateway on the client's behalf when the connection drops: a device
    // may leave one on its own topics; a crew's could only be an acknowledgement nobody typed.
    if (attempt.willTopic !== undefined) {
      const isOwn = identity.role === 'device' && (attempt.willTopic === identity.topics.status || attempt.willTopic === identity.topics.telemetry)
      if (!isOwn) {
        metrics.aclDenials.inc({ action: 'will' })
        return { reason: 'will_forbidden', returnCode: 5 }
      }
    }
    if (identity.role === 'device') return undefined
    // A crew's client id must not take over a device's connection (Aedes closes the older one).
    if (registry.getDevice(attempt.clientId) !== undefined) return { reason: 'client_id_of_a_device', returnCode: 2 }
    if (attempt.clean) {
      options.crewSessions.ended(attempt.clientId)
      return undefined
    }
    const admission = options.crewSessions.admit(identity.name, attempt.clientId)
    if (!admission.ok) {
      metrics.limitsExceeded.inc({ limit: admission.reason === 'persistent_sessions' ? 'persistent_sessions' : 'session_owner' })
      return { reason: admission.reason, returnCode: admission.reason === 'persistent_sessions' ? 5 : 2 }
    }
    if (admission.replaced !== undefined) {
      metrics.limitsExceeded.inc({ limit: 'persistent_sessions' })
      identity.log.info({ replacedClientId: admission.replaced, reason: 'persistent_sessions', max: options.crewSessions.maxPerCrew }, 'persistent session replaces the crew\'s least recently connected one')
    }
    return undefined
  }

  return {
    decide (attempt: ConnectAttempt): ConnectDecision {
      const keepalive = attempt.keepaliveSec ?? 0
      if (keepalive === 0 || keepalive > options.keepaliveMaxSec) {
        // MQTT 3.1.1 has no code for it; like mosquitto's max_keepalive, "identifier rejected".
        metrics.limitsExceeded.inc({ limit: 'keepalive' })
        return refuse(attempt, 'keepalive', 2, 0, { keepaliveSec: keepalive, maxSec: options.keepaliveMaxSec })
      }

      const lockout = logins.lockedOut(attempt.ip, attempt.username)
      if (lockout !== undefined) {
        metrics.limitsExceeded.inc({ limit: 'login_lockout' })
        return refuse(attempt, 'locked_out', 5, 0, { scope: lockout.scope, untilMs: lockout.untilMs })
      }

      const outcome = authenticateClient(registry, log, attempt.clientId, attempt.username, attempt.password, attempt.clientCertCn)
      if (outcome.ok) {
        const identity = outcome.identity
        const refusal = refusedRequest(identity, attempt)
        if (refusal !== undefined) return refuse(attempt, refusal.reason, refusal.returnCode)
        logins.succeeded(attempt.ip, identity.role === 'device' ? identity.id : identity.name)
        return outcome
      }

      const failure = logins.failed(attempt.ip, attempt.username)
      for (const scope of failure.backoffStarted) {
        log.warn({ ip: attempt.ip, username: attempt.username, scope, reason: 'login_backoff' }, 'repeated failed logins: delaying refusals')
      }
      for (const scope of failure.lockoutStarted) {
        metrics.limitsExceeded.inc({ limit: 'login_lockout' })
        log.warn({ ip: attempt.ip, username: attempt.username, scope, reason: 'login_lockout', lockoutSec: Math.round(options.login.lockoutMs / 1000) }, 'too many failed logins: locked out')
      }
      if (failure.delayMs > 0) metrics.limitsExceeded.inc({ limit: 'login_backoff' })
      // 4 = bad user name or password; 5 = not authorized [MQTT-3.2.2-3]
      const returnCode = outcome.reason === 'bad_secret' || outcome.reason === 'unknown_user' ? 4 : 5
      return refuse(attempt, outcome.reason, returnCode, failure.delayMs)
    },
  }
}
