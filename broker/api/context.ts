// What the API's route modules share: the stages they read (registry, alarms, device table,
// InfluxDB series and alarm history, the journal of alarm changes), the caller resolved by the
// auth hook, and one shape for error answers.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { Alarms } from '../alarms/index.ts'
import type { AccessLog } from '../consumers/access-log.ts'
import type { LogThrottle } from '../log-throttle.ts'
import type { Registry } from '../registry/registry.ts'
import type { SessionStore } from '../sessions/store.ts'
import type { MaintenanceStore } from '../maintenance/store.ts'
import type { Auth, Principal } from './auth.ts'
import type { DropReason } from './bounded-writer.ts'
import type { AlarmJournal } from './alarm-journal.ts'
import type { DeviceTable } from './device-table.ts'
import type { InfluxQlClient } from './influxql.ts'
import type { SeriesReader } from './series.ts'
import type { SignIn, SignInMethod, SignInOutcome } from './sign-in.ts'
import type { SignInGuard } from './sign-in-guard.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'

/** What the console learns from GET /api/console/settings (map tiles, web map links). */
export interface ConsoleSettings {
  /** Leaflet tile URL template; null = the console draws its offline map. */
  mapTileUrl: string | null
  mapAttribution: string | null
  /** Web map URL template with {lat} and {lon}. */
  mapsUrl: string
}

export interface ApiOptions {
  registry: Registry
  alarms: Pick<Alarms, 'list' | 'subscribe' | 'acknowledgeById' | 'isHeldBack' | 'onReleased'> & Partial<Pick<Alarms, 'incidents'>>
  devices: DeviceTable
  /** Undefined when INFLUX_URL is unset: the series endpoint answers 503. */
  series: SeriesReader | undefined
  /** Where sessions and trusted-device tokens are kept (sessions.json, or the cluster's bucket). */
  sessions: SessionStore
  /** Maintenance windows (maintenance.json, or the cluster's bucket). */
  maintenance: MaintenanceStore
  /** Undefined when INFLUX_URL is unset: alarm history answers from memory only (partial). */
  influxQl: InfluxQlClient | undefined
  /** Opens who acknowledged and the note of stored `alarms` points; absent = read as they are. */
  cipher?: FieldCipher | undefined
  /** Session lifetime, ms. */
  sessionTtlMs: number
  /** Trusted-device token lifetime, ms. */
  deviceTtlMs: number
  /** Failed sign-ins (Basic or session) per account and client address and minute still answered 401; more get 429. */
  failedSignInsPerMinute: number
  /** Most unsent bytes an alarm stream may hold for its client before it is closed. */
  streamBufferBytes: number
  /** How long an alarm stream's backed-up buffer may wait for its client to read, ms. */
  streamDrainTimeoutMs: number
  /** Alarm streams one account may hold open at once. */
  streamsPerAccount: number
  /** Refusals and dropped streams are logged once per offender and this period, ms. */
  limitLogIntervalMs: number
  /** SSE keep-alive comment interval, ms (also re-checks the session). */
  heartbeatMs: number
  /** Where each consumer request's `access` point goes (the spool). */
  access: AccessLog
  /** Requests per consumer and minute (CONSUMER_RATE_PER_MIN). */
  consumerRatePerMin: number
  /** Absent = no tiles and the console's default web map. */
  console?: ConsoleSettings
  onSignIn?: (method: SignInMethod, outcome: SignInOutcome) => void
  /** An alarm stream was closed because its client did not read. */
  onStreamDropped?: (reason: DropReason) => void
  /** A request was refused by an API limit other than the sign-in limit. */
  onLimit?: (limit: 'api_streams_per_account' | 'consumer_rate') => void
  /** The plain MQTT port, announced in the SensorThings service root; absent = none announced. */
  mqttPort?: number | undefined
}

export interface ApiContext extends ApiOptions {
  auth: Auth
  signIn: SignIn
  /** The failed-sign-in limit, for attempts other than name and secret (a refused device cookie). */
  guard: SignInGuard
  throttle: LogThrottle
  log: FastifyBaseLogger
  /** Alarm changes delivered since start, for the history. */
  journal: AlarmJournal
  /** The signed-in caller; only on routes behind the auth hook. */
  principalOf(request: FastifyRequest): Principal
}

const STATUS_NAMES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 429: 'Too Many Requests', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
}

/** Sends the API's error body `{ statusCode, error, message }`. */
export function sendError (reply: FastifyReply, statusCode: number, message: string): FastifyReply {
  return reply.code(statusCode).send({ statusCode, error: STATUS_NAMES[statusCode] ?? 'Error', message })
}
