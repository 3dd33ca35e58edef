// The HTTP API on the gateway's fastify instance: cookies, shared schemas, the auth hook (session
// cookie or HTTP Basic, under the failed-sign-in limit; nothing under /api is open except sign-in/out,
// signing in again with a trusted-device cookie, and the OpenAPI description), the routes, and /api/openapi.json.
import { MAX_TRACKED_KEYS } from '../bounded-table.ts'
import fastifyCookie from '@fastify/cookie'
import fastifySwagger from '@fastify/swagger'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createLogThrottle } from '../log-throttle.ts'
import { createAuth, parseBasic } from './auth.ts'
import { registerConsumerAccess } from './consumer-access.ts'
import { principalOfRequest, setPrincipal } from './request-scope.ts'
import { createAlarmJournal } from './alarm-journal.ts'
import { registerAlarmStream, type AlarmStreamStats } from './alarm-stream.ts'
import type { ApiContext, ApiOptions } from './context.ts'
import { registerAlarmRoutes } from './routes-alarms.ts'
import { registerIncidentRoutes } from './routes-incidents.ts'
import { registerConsoleRoutes } from './routes-console.ts'
import { registerDeviceRoutes } from './routes-devices.ts'
import { registerKindRoutes } from './routes-kinds.ts'
import { registerHistoryRoutes } from './routes-history.ts'
import { registerMaintenanceRoutes } from './routes-maintenance.ts'
import { registerSessionRoutes, SESSION_COOKIE, tooManyFailedSignIns, unauthorized } from './routes-session.ts'
import { registerSessionListRoutes } from './routes-sessions.ts'
import { registerStatsRoutes } from './routes-stats.ts'
import { sharedSchemas } from './schemas.ts'
import { registerStaRoutes } from '../sta/routes.ts'
import { createSignInGuard } from './sign-in-guard.ts'
import { createSignIn } from './sign-in.ts'

export type { ApiOptions } from './context.ts'
export type { AlarmStreamStats } from './alarm-stream.ts'

/** Registers swagger first so every route declared afterwards (health endpoints too) is described. */
export async function registerApiDocs (app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    // Components named by their $id (Alarm, Device, …) rather than def-0, def-1.
    refResolver: { buildLocalReference (json, _baseUri, _fragment, i) { return typeof json.$id === 'string' ? json.$id : `def-${i}` } },
    openapi: {
      openapi: '3.0.3',
      info: { title: 'city-sensor-gateway API', version: '1', description: 'Devices, alarms and recent values for crews and operators. Sign in with POST /api/session (cookie) or send HTTP Basic credentials.' },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
          basic: { type: 'http', scheme: 'basic' },
          bearer: { type: 'http', scheme: 'bearer', description: 'an outside consumer\'s token (citygw consumer add): GET /api/devices…, /api/kinds and /sta/v1.1 only, within its scope' },
        },
      },
      security: [{ session: [] }, { basic: [] }, { bearer: [] }],
    },
  })
}

/** Registers the API; returns what the metrics read from its alarm streams. */
export async function registerApi (app: FastifyInstance, options: ApiOptions): Promise<AlarmStreamStats> {
  await app.register(fastifyCookie)
  for (const schema of sharedSchemas) app.addSchema(schema)

  const log = app.log.child({ module: 'api' })
  const throttle = createLogThrottle(options.limitLogIntervalMs)
  const auth = createAuth({ registry: options.registry, store: options.sessions, sessionTtlMs: options.sessionTtlMs, deviceTtlMs: options.deviceTtlMs, log })
  app.addHook('onClose', function stopSessionSweep (_instance, done) {
    auth.close()
    done()
  })
  const guard = createSignInGuard({ maxFailures: options.failedSignInsPerMinute, windowMs: 60_000, maxTracked: MAX_TRACKED_KEYS, isAccount (name) { return auth.hasAccount(name) } })
  const journal = createAlarmJournal()
  const stopJournal = options.alarms.subscribe(function remember (event) { journal.record(event) })
  app.addHook('onClose', function closeJournal (_instance, done) {
    stopJournal()
    done()
  })
  const ctx: ApiContext = {
    ...options,
    journal,
    auth,
    signIn: createSignIn({ auth, guard, throttle, log, ...(options.onSignIn === undefined ? {} : { onSignIn: options.onSignIn }) }),
    guard,
    throttle,
    log,
    principalOf (request) {
      const principal = principalOfRequest(request)
      if (principal === undefined) throw new Error(`${request.url}: route lacks the auth hook`)
      return principal
    },
  }

  await registerConsumerAccess(app, { auth, access: options.access, ratePerMin: options.consumerRatePerMin, log, throttle, ...(options.onLimit === undefined ? {} : { onLimit: options.onLimit }) })

  async function requireAuth (request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    // A consumer was resolved (and its route checked) by the consumer gate.
    if (principalOfRequest(request)?.role === 'consumer') return undefined
    const token = request.cookies[SESSION_COOKIE]
    const fromSession = token === undefined ? undefined : auth.fromSession(token)
    if (fromSession !== undefined) {
      setPrincipal(request, fromSession)
      return undefined
    }
    const header = request.headers.authorization
    if (header === undefined) return unauthorized(request, reply)
    // A malformed header counts like a name that is no account, so it cannot bypass the limit.
    const credentials = parseBasic(header) ?? { name: '', secret: '' }
    const result = ctx.signIn('basic', credentials.name, credentials.secret, request.ip)
    if (result.outcome === 'locked_out') return tooManyFailedSignIns(reply, result.retryAfterSec)
    if (result.outcome === 'refused') return unauthorized(request, reply)
    setPrincipal(request, result.principal)
    return undefined
  }

  registerSessionRoutes(app, ctx, requireAuth)
  registerSessionListRoutes(app, ctx, requireAuth)
  registerDeviceRoutes(app, ctx, requireAuth)
  registerKindRoutes(app, requireAuth)
  registerAlarmRoutes(app, ctx, requireAuth)
  registerIncidentRoutes(app, ctx, requireAuth)
  registerHistoryRoutes(app, ctx, requireAuth)
  registerStatsRoutes(app, ctx, requireAuth)
  registerConsoleRoutes(app, ctx, requireAuth)
  registerMaintenanceRoutes(app, ctx, requireAuth)
  registerStaRoutes(app, ctx, requireAuth)
  const streams = registerAlarmStream(app, ctx, requireAuth)

  app.get('/api/openapi.json', { schema: { hide: true } }, function openApi () {
    return app.swagger()
  })
  return streams
}
