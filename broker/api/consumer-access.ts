// Outside consumers on the HTTP server: `Authorization: Bearer <token>` resolved before any route
// hook; only the read-only data routes below (GET) and /sta/v1.1 are open to them, every other
// route answers 403. Each consumer request is rate-limited per consumer and written as one `access`
// point before its answer leaves (an answer that cannot be audited is not sent: 503).
import fastifyRateLimit from '@fastify/rate-limit'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AccessLog } from '../consumers/access-log.ts'
import { consumerNameOfToken } from '../consumers/provision.ts'
import type { LogThrottle } from '../log-throttle.ts'
import type { Auth } from './auth.ts'
import { parseBearer } from './auth.ts'
import { sendError } from './context.ts'
import { principalOfRequest, resultRowsOf, setPrincipal } from './request-scope.ts'

/** The /api routes a consumer may call (GET only): devices, their readings, the kinds' fields, the API description. */
export const CONSUMER_API_ROUTES: ReadonlySet<string> = new Set(['/api/devices', '/api/devices/:id', '/api/devices/:id/series', '/api/kinds', '/api/openapi.json'])
/** The SensorThings API: every route under it serves consumers through scopeOfRequest. */
export const STA_PREFIX = '/sta/v1.1'

export interface ConsumerAccessOptions {
  auth: Auth
  access: AccessLog
  /** Requests per consumer and minute; more get 429 with Retry-After. */
  ratePerMin: number
  log: FastifyBaseLogger
  /** Refused tokens and exceeded rates are logged once per offender and period. */
  throttle: LogThrottle
  /** A consumer went over its rate. */
  onLimit?: (limit: 'consumer_rate') => void
}

/** Whether a consumer may call this request's route. */
export function isConsumerRoute (request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false
  const pattern = request.routeOptions.url
  // The matched route decides; only a path no route matched (a 404 to come) is judged by its text.
  const path = pattern ?? request.url.split('?', 1)[0] ?? ''
  if (CONSUMER_API_ROUTES.has(path)) return true
  return path === STA_PREFIX || path.startsWith(`${STA_PREFIX}/`) || path.startsWith(`${STA_PREFIX}(`)
}

function isConsumer (request: FastifyRequest): boolean {
  return principalOfRequest(request)?.role === 'consumer'
}

/** Registers the consumer gate, the per-consumer rate limit and the audit; before any route. */
export async function registerConsumerAccess (app: FastifyInstance, options: ConsumerAccessOptions): Promise<void> {
  const { auth, access, log, throttle } = options

  app.addHook('onRequest', async function consumerGate (request: FastifyRequest, reply: FastifyReply) {
    const header = request.headers.authorization
    if (header === undefined || parseBearer(header) === undefined) return undefined
    const consumer = auth.fromBearer(header)
    if (consumer === undefined) {
      const name = consumerNameOfToken(parseBearer(header) ?? '')?.slice(0, 64)
      const suppressed = throttle.take(`consumer_token_refused:${request.ip}`)
      if (suppressed !== undefined) log.info({ consumer: name, ip: request.ip, suppressedSinceLast: suppressed }, 'consumer token refused')
      void reply.header('www-authenticate', 'Bearer realm="citygw", error="invalid_token"')
      return sendError(reply, 401, 'unknown or revoked consumer token')
    }
    setPrincipal(request, consumer)
    if (!isConsumerRoute(request)) return sendError(reply, 403, 'consumers may only read devices, kinds and /sta/v1.1')
    return undefined
  })

  // Route-level hooks run after the gate above, so the consumer is known when the limit is taken.
  await app.register(fastifyRateLimit, {
    global: true,
    max: options.ratePerMin,
    timeWindow: 60_000,
    allowList (request) { return !isConsumer(request) },
    keyGenerator (request) { return `consumer:${principalOfRequest(request)?.name ?? request.ip}` },
    onExceeded (request) {
      options.onLimit?.('consumer_rate')
      const name = principalOfRequest(request)?.name
      const suppressed = throttle.take(`consumer_rate:${name ?? ''}`)
      if (suppressed !== undefined) log.warn({ consumer: name, ratePerMin: options.ratePerMin, suppressedSinceLast: suppressed }, 'consumer over its rate: answering 429')
    },
  })

  app.addHook('onSend', async function auditConsumer (request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const principal = principalOfRequest(request)
    if (principal?.role !== 'consumer') return payload
    const queryAt = request.url.indexOf('?')
    try {
      await access.record({
        consumer: principal.name,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
        rows: resultRowsOf(request),
        path: queryAt < 0 ? request.url : request.url.slice(0, queryAt),
        query: queryAt < 0 ? '' : request.url.slice(queryAt + 1),
      })
      return payload
    } catch (err) {
      log.error({ err, consumer: principal.name }, 'access point not stored; answer withheld')
      void reply.code(503).type('application/json; charset=utf-8')
      return JSON.stringify({ statusCode: 503, error: 'Service Unavailable', message: 'the access could not be recorded' })
    }
  })
}
