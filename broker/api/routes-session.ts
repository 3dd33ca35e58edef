// Sign-in and sign-out: POST /api/session (name + secret → HttpOnly, SameSite=Strict session cookie;
// with `remember` also a trusted-device cookie), POST /api/session/resume (device cookie → a new
// session), GET /api/session/device (whose device cookie this is), GET /api/session (who am I),
// DELETE /api/session (sign out; `?forget=device` also ends the device token). The auth hook accepts
// the session cookie or HTTP Basic on every other /api route; Basic, POST /api/session and failed
// resumes share one failed-sign-in limit (sign-in.ts, sign-in-guard.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Principal } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { errors, nameSchema } from './schemas.ts'
import { userAgentLabel } from '../sessions/record.ts'

export const SESSION_COOKIE = 'citygw_session'
/** The trusted-device token: sent only to /api/session and below (sign-in again, sign-out). */
export const DEVICE_COOKIE = 'citygw_device'
const DEVICE_COOKIE_PATH = '/api/session'

/** Longest device-cookie name logged for a refused resume. */
const MAX_LOGGED_NAME = 64

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

function describe (principal: Principal, trustedDevice: boolean, expiresAtMs?: number) {
  return {
    name: principal.name,
    role: principal.role,
    districts: principal.districts ?? null,
    trustedDevice,
    ...(expiresAtMs === undefined ? {} : { expiresAt: new Date(expiresAtMs).toISOString() }),
  }
}

export function registerSessionRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  function cookieOptions (request: FastifyRequest, path: string, maxAgeMs: number) {
    return { path, httpOnly: true, sameSite: 'strict' as const, secure: request.protocol === 'https', maxAge: Math.floor(maxAgeMs / 1000) }
  }

  async function startSession (request: FastifyRequest, reply: FastifyReply, principal: Principal): Promise<{ id: string; expiresAtMs: number }> {
    const { token, record } = await ctx.auth.createSession(principal, { device: false, userAgent: userAgentLabel(request.headers['user-agent']) })
    void reply.setCookie(SESSION_COOKIE, token, cookieOptions(request, '/', ctx.sessionTtlMs))
    return { id: record.id, expiresAtMs: record.expiresAt }
  }

  /** The live device token of the request's device cookie for `name` (any account when undefined). */
  function deviceOf (request: FastifyRequest, name?: string) {
    const token = request.cookies[DEVICE_COOKIE]
    const device = token === undefined ? undefined : ctx.auth.live(token, true)
    return device === undefined || (name !== undefined && device.principal.name !== name) ? undefined : device
  }

  function clearDeviceCookie (reply: FastifyReply): void {
    void reply.clearCookie(DEVICE_COOKIE, { path: DEVICE_COOKIE_PATH })
  }

  app.post<{ Body: { name: string; secret: string; remember?: boolean } }>('/api/session', {
    schema: {
      summary: `Sign in with a crew or operator name and secret; sets the session cookie, and with \`remember\` the trusted-device cookie ${DEVICE_COOKIE}`,
      tags: ['session'],
      body: {
        type: 'object',
        properties: {
          name: nameSchema,
          secret: { type: 'string', minLength: 1, maxLength: 256 },
          remember: { type: 'boolean', description: 'trust this device: it may sign in again without the secret (POST /api/session/resume) for API_DEVICE_TTL_DAYS' },
        },
        required: ['name', 'secret'],
        additionalProperties: false,
      },
      response: { 200: { $ref: 'Principal#' }, ...errors(400, 401, 429) },
    },
  }, async function signIn (request, reply) {
    const result = ctx.signIn('session', request.body.name, request.body.secret, request.ip)
    if (result.outcome === 'locked_out') return tooManyFailedSignIns(reply, result.retryAfterSec)
    if (result.outcome === 'refused') return sendError(reply, 401, 'unknown name or wrong secret')
    const principal = result.principal
    const session = await startSession(request, reply, principal)
    let trustedDevice = deviceOf(request, principal.name) !== undefined
    if (request.body.remember === true) {
      // A device trusted again gets a fresh token; the one it replaces ends.
      const previous = request.cookies[DEVICE_COOKIE]
      if (previous !== undefined) await ctx.auth.endSession(previous)
      const device = await ctx.auth.createSession(principal, { device: true, userAgent: userAgentLabel(request.headers['user-agent']) })
      void reply.setCookie(DEVICE_COOKIE, device.token, cookieOptions(request, DEVICE_COOKIE_PATH, ctx.deviceTtlMs))
      trustedDevice = true
      request.log.info({ name: principal.name, role: principal.role, sessionId: session.id, deviceId: device.record.id }, 'signed in')
    } else {
      request.log.info({ name: principal.name, role: principal.role, sessionId: session.id }, 'signed in')
    }
    return describe(principal, trustedDevice, session.expiresAtMs)
  })

  app.post('/api/session/resume', {
    schema: {
      summary: `Sign in again with the trusted-device cookie ${DEVICE_COOKIE}: a new session cookie; 401 (and the device cookie cleared) when it is no longer valid`,
      tags: ['session'],
      response: { 200: { $ref: 'Principal#' }, ...errors(401, 429) },
    },
  }, async function resume (request, reply) {
    const token = request.cookies[DEVICE_COOKIE]
    const device = token === undefined ? undefined : ctx.auth.live(token, true)
    if (device === undefined) {
      clearDeviceCookie(reply)
      // Counted like a wrong secret: for the account the token was made for, or the address alone.
      const name = token === undefined ? '' : ctx.auth.recordOf(token)?.name ?? ''
      const { key, retryAfterSec } = ctx.guard.failed(name, request.ip)
      ctx.onSignIn?.('session', retryAfterSec === undefined ? 'refused' : 'locked_out')
      const suppressed = ctx.throttle.take(`resume refused ${key}`)
      if (suppressed !== undefined) {
        ctx.log.info({ name: name.slice(0, MAX_LOGGED_NAME), ip: request.ip, reason: token === undefined ? 'no_device_cookie' : 'device_not_valid', suppressedSinceLast: suppressed }, 'session resume refused')
      }
      if (retryAfterSec !== undefined) return tooManyFailedSignIns(reply, retryAfterSec)
      return sendError(reply, 401, 'this device is no longer trusted: sign in with name and secret')
    }
    ctx.onSignIn?.('session', 'ok')
    const session = await startSession(request, reply, device.principal)
    request.log.info({ name: device.principal.name, role: device.principal.role, sessionId: session.id, deviceId: device.record.id }, 'session resumed')
    return describe(device.principal, true, session.expiresAtMs)
  })

  app.get('/api/session/device', {
    schema: {
      summary: `The account the trusted-device cookie ${DEVICE_COOKIE} signs in again (so a page can offer "Sign in again as <name>"); 404 without a valid one`,
      tags: ['session'],
      response: {
        200: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
        ...errors(404),
      },
    },
  }, function trustedDevice (request, reply) {
    const device = deviceOf(request)
    if (device === undefined) {
      if (request.cookies[DEVICE_COOKIE] !== undefined) clearDeviceCookie(reply)
      return sendError(reply, 404, 'this device is not trusted for any account')
    }
    return { name: device.principal.name }
  })

  app.get('/api/session', {
    onRequest: requireAuth,
    schema: { summary: 'The signed-in crew or operator', tags: ['session'], response: { 200: { $ref: 'Principal#' }, ...errors(401, 429) } },
  }, function whoAmI (request) {
    const principal = ctx.principalOf(request)
    const token = request.cookies[SESSION_COOKIE]
    const session = token === undefined ? undefined : ctx.auth.live(token, false)
    const expiresAtMs = session?.principal.name === principal.name ? session.record.expiresAt : undefined
    return describe(principal, deviceOf(request, principal.name) !== undefined, expiresAtMs)
  })

  app.delete<{ Querystring: { forget?: 'device' } }>('/api/session', {
    schema: {
      summary: 'Sign out: ends the session and clears its cookie; with `forget=device` also ends this device\'s trusted-device token',
      tags: ['session'],
      querystring: { type: 'object', properties: { forget: { type: 'string', enum: ['device'] } }, additionalProperties: false },
      response: { 204: { type: 'null' }, ...errors(400) },
    },
  }, async function signOut (request, reply) {
    const token = request.cookies[SESSION_COOKIE]
    if (token !== undefined) await ctx.auth.endSession(token)
    void reply.clearCookie(SESSION_COOKIE, { path: '/' })
    if (request.query.forget === 'device') {
      const device = request.cookies[DEVICE_COOKIE]
      if (device !== undefined) await ctx.auth.endSession(device)
      clearDeviceCookie(reply)
    }
    return reply.code(204).send()
  })
}
