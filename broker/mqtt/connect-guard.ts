// One CONNECT → admitted Identity or a refusal with its CONNACK code and delay: keepalive bounds,
// failed-login lockout and backoff around authenticateClient. Counts and logs (once per offender
// and period) here; hooks.ts only turns the decision into Aedes' callback.
import type { Metrics } from '../http/metrics.ts'
import type { Logger } from '../log.ts'
import type { Registry } from '../registry/registry.ts'
import { authenticateClient, type Identity } from './authenticate.ts'
import { createLoginGuard, type LogThrottle, type LoginGuardOptions } from './limits.ts'

export interface ConnectAttempt {
  clientId: string
  username: string | undefined
  password: Buffer | undefined
  keepaliveSec: number | undefined
  ip: string
  clientCertCn: string | undefined
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
}

export function createConnectGuard (options: ConnectGuardOptions) {
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
