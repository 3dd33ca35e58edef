// The HTTP API (#6) on the gateway's fastify instance: cookies, sign-in rate limit, shared
// schemas, the auth hook (session cookie or HTTP Basic; nothing under /api is open except
// sign-in/out and the OpenAPI description), the routes, and /api/openapi.json.
import fastifyCookie from '@fastify/cookie'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createAuth, type Principal } from './auth.ts'
import { registerAlarmStream } from './alarm-stream.ts'
import type { ApiContext, ApiOptions } from './context.ts'
import { registerAlarmRoutes } from './routes-alarms.ts'
import { registerDeviceRoutes } from './routes-devices.ts'
import { registerSessionRoutes, resolvePrincipal, SESSION_COOKIE, unauthorized } from './routes-session.ts'
import { sharedSchemas } from './schemas.ts'

export type { ApiOptions } from './context.ts'

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
        },
      },
      security: [{ session: [] }, { basic: [] }],
    },
  })
}

export async function registerApi (app: FastifyInstance, options: ApiOptions): Promise<void> {
  await app.register(fastifyCookie)
  await app.register(fastifyRateLimit, { global: false })
  for (const schema of sharedSchemas) app.addSchema(schema)

  const principals = new WeakMap<FastifyRequest, Principal>()
  const ctx: ApiContext = {
    ...options,
    auth: createAuth({ registry: options.registry, sessionTtlMs: options.sessionTtlMs }),
    principalOf (request) {
      const principal = principals.get(request)
      if (principal === undefined) throw new Error(`${request.url}: route lacks the auth hook`)
      return principal
    },
  }

  async function requireAuth (request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const principal = resolvePrincipal(ctx, request)
    if (principal === undefined) return unauthorized(request, reply)
    principals.set(request, principal)
    return undefined
  }

  registerSessionRoutes(app, ctx, requireAuth)
  registerDeviceRoutes(app, ctx, requireAuth)
  registerAlarmRoutes(app, ctx, requireAuth)
  registerAlarmStream(app, ctx, requireAuth)

  app.get('/api/openapi.json', { schema: { hide: true } }, function openApi () {
    return app.swagger()
  })
}
