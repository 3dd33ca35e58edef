// What the API's route modules share: the stages they read (registry, alarms, device table,
// InfluxDB series), the caller resolved by the auth hook, and one shape for error answers.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Alarms } from '../alarms/index.ts'
import type { Registry } from '../registry/registry.ts'
import type { Auth, Principal } from './auth.ts'
import type { DeviceTable } from './device-table.ts'
import type { SeriesReader } from './series.ts'

export interface ApiOptions {
  registry: Registry
  alarms: Pick<Alarms, 'list' | 'subscribe' | 'acknowledgeById'>
  devices: DeviceTable
  /** Undefined when INFLUX_URL is unset: the series endpoint answers 503. */
  series: SeriesReader | undefined
  /** Session lifetime, ms. */
  sessionTtlMs: number
  /** Sign-in attempts (POST /api/session) per client IP and minute. */
  signInPerMinute: number
  /** SSE keep-alive comment interval, ms (also re-checks the session). */
  heartbeatMs?: number
  onSignIn?: (outcome: 'ok' | 'refused') => void
}

export interface ApiContext extends ApiOptions {
  auth: Auth
  /** The signed-in caller; only on routes behind the auth hook. */
  principalOf(request: FastifyRequest): Principal
}

const STATUS_NAMES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 502: 'Bad Gateway', 503: 'Service Unavailable',
}

/** Sends the API's error body `{ statusCode, error, message }`. */
export function sendError (reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply.code(statusCode).send({ statusCode, error: STATUS_NAMES[statusCode] ?? 'Error', message })
}
