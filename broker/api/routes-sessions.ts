// The sessions and trusted devices that are signed in: GET /api/sessions (operators see all, crews
// their own account's) and DELETE /api/sessions/{id} (operators any, crews their own; 404 for any
// other id, so a crew cannot probe for others' ids). Never a token or a hash.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { publicView, type SessionRecord } from '../sessions/record.ts'
import type { Principal } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { SESSION_COOKIE } from './routes-session.ts'
import { errors } from './schemas.ts'

export const sessionInfoSchema = {
  $id: 'SessionInfo',
  type: 'object',
  properties: {
    id: { type: 'string', description: 'public id (what `citygw session revoke` takes); not the token' },
    name: { type: 'string' },
    role: { type: 'string', enum: ['crew', 'operator'] },
    kind: { type: 'string', enum: ['session', 'device'], description: 'a browser session, or a trusted-device token that can start sessions' },
    createdAt: { type: 'string', format: 'date-time' },
    lastUsedAt: { type: 'string', format: 'date-time', description: 'to the minute' },
    expiresAt: { type: 'string', format: 'date-time' },
    userAgent: { type: 'string' },
    current: { type: 'boolean', description: 'the session of this request' },
  },
  required: ['id', 'name', 'role', 'kind', 'createdAt', 'lastUsedAt', 'expiresAt', 'userAgent', 'current'],
} as const

/** A record as the API shows it. */
function describe (record: SessionRecord, currentId: string | undefined) {
  return { ...publicView(record), current: record.id === currentId }
}

function mayManage (principal: Principal, record: SessionRecord): boolean {
  return principal.role === 'operator' || principal.name === record.name
}

export function registerSessionListRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  app.addSchema(sessionInfoSchema)

  function currentId (request: FastifyRequest): string | undefined {
    const token = request.cookies[SESSION_COOKIE]
    return token === undefined ? undefined : ctx.auth.live(token, false)?.record.id
  }

  app.get('/api/sessions', {
    onRequest: requireAuth,
    schema: {
      summary: 'Signed-in sessions and trusted devices: every account\'s for operators, their own account\'s for crews; most recently used first',
      tags: ['session'],
      response: { 200: { type: 'array', items: { $ref: 'SessionInfo#' } }, ...errors(401, 429) },
    },
  }, function listSessions (request) {
    const principal = ctx.principalOf(request)
    const current = currentId(request)
    return ctx.auth.list()
      .filter(function visible (record) { return mayManage(principal, record) })
      .sort(function recentFirst (a, b) { return b.lastUsedAt - a.lastUsedAt })
      .map(function shown (record) { return describe(record, current) })
  })

  app.delete<{ Params: { id: string } }>('/api/sessions/:id', {
    onRequest: requireAuth,
    schema: {
      summary: 'Ends a session or trusted device (operators: any; crews: their own account\'s); its alarm stream closes',
      tags: ['session'],
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
      response: { 204: { type: 'null' }, ...errors(401, 404, 429) },
    },
  }, async function revokeSession (request, reply) {
    const principal = ctx.principalOf(request)
    const record = ctx.auth.list().find(function byId (r) { return r.id === request.params.id })
    if (record === undefined || !mayManage(principal, record)) return sendError(reply, 404, `no session ${request.params.id} of yours`)
    request.log.info({ by: principal.name, name: record.name, sessionId: record.id, device: record.device }, 'revoking session')
    await ctx.auth.revoke([record.id])
    return reply.code(204).send()
  })
}
