// Sign-in and sign-out: POST /api/session (name + secret → HttpOnly, SameSite=Strict cookie),
// GET /api/session (who am I), DELETE /api/session. The auth hook accepts that cookie or HTTP Basic
// on every other /api route; Basic and POST /api/session share one failed-sign-in limit (sign-in.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Principal } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { errors, nameSchema } from './schemas.ts'

export const SESSION_COOKIE = 'citygw_session'

/** The caller from the session cookie, else from HTTP Basic; undefined when neither is valid. */
export function resolvePrincipal (ctx: ApiContext, request: FastifyRequest): Principal | undefined {
  const token = request.cookies[SESSION_COOKIE]
  const fromCookie = token === undefined ? undefined : ctx.auth.fromSession(token)
  if (fromCookie !== undefined) return fromCookie
  const header = request.headers.authorization
  return header === undefined ? undefined : ctx.auth.fromBasic(header)
}

/** 429 for a wrong secret beyond the failed-sign-in limit; the right secret is still let in. */
export function tooManyFailedSignIns (reply: FastifyReply, retryAfterSec: number): FastifyReply {
  void reply.header('retry-after', String(retryAfterSec))
  return sendError(reply, 429, `too many failed sign-ins for this name from this address; retry in ${retryAfterSec} s`)
}

/** 401 for callers without a valid session or Basic credentials. */
export function unauthorized (request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // Scripts get the Basic challenge; a browser's fetch or EventSource (Sec-Fetch-Mode) gets none,
  // so the console shows its own sign-in form instead of the browser's password dialog.
  if (request.headers.authorization !== undefined || request.headers['sec-fetch-mode'] === undefined) {
    void reply.header('www-authenticate', 'Basic realm="citygw", charset="UTF-8"')
  }
  return sendError(reply, 401, 'sign in (POST /api/session) or send HTTP Basic credentials of a crew or operator')
}

function describe (principal: Principal, expiresAtMs?: number) {
  return { name: principal.name, role: principal.role, districts: principal.districts ?? null, ...(expiresAtMs === undefined ? {} : { expiresAt: new Date(expiresAtMs).toISOString() }) }
}

export function registerSessionRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  app.post<{ Body: { name: string; secret: string } }>('/api/session', {
    schema: {
      summary: 'Sign in with a crew or operator name and secret; sets the session cookie',
      tags: ['session'],
      body: { type: 'object', properties: { name: nameSchema, secret: { type: 'string', minLength: 1, maxLength: 256 } }, required: ['name', 'secret'], additionalProperties: false },
      response: { 200: { $ref: 'Principal#' }, ...errors(400, 401, 429) },
    },
  }, async function signIn (request, reply) {
    const result = ctx.signIn('session', request.body.name, request.body.secret, request.ip)
    if (result.outcome === 'locked_out') return tooManyFailedSignIns(reply, result.retryAfterSec)
    if (result.outcome === 'refused') return sendError(reply, 401, 'unknown name or wrong secret')
    const principal = result.principal
    const session = ctx.auth.createSession(principal)
    void reply.setCookie(SESSION_COOKIE, session.token, {
      path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https', maxAge: Math.floor(ctx.sessionTtlMs / 1000),
    })
    request.log.info({ name: principal.name, role: principal.role }, 'signed in')
    return describe(principal, session.expiresAtMs)
  })

  app.get('/api/session', {
    onRequest: requireAuth,
    schema: { summary: 'The signed-in crew or operator', tags: ['session'], response: { 200: { $ref: 'Principal#' }, ...errors(401, 429) } },
  }, function whoAmI (request) {
    return describe(ctx.principalOf(request))
  })

  app.delete('/api/session', {
    schema: { summary: 'Sign out: ends the session and clears the cookie', tags: ['session'], response: { 204: { type: 'null' } } },
  }, async function signOut (request, reply) {
    const token = request.cookies[SESSION_COOKIE]
    if (token !== undefined) ctx.auth.endSession(token)
    void reply.clearCookie(SESSION_COOKIE, { path: '/' })
    return reply.code(204).send()
  })
}
