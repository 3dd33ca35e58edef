// GET /api/incidents (the caller's districts; ?state=open for open and acknowledged ones) and
// POST /api/incidents/:id/ack: acknowledges the incident and every active member alarm, by the
// signed-in name. Without device groups the list is empty and every id is unknown.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { canSee } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { errors } from './schemas.ts'

interface IncidentQuery { state?: 'open' | 'acknowledged' | 'closed' }

export function registerIncidentRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  app.get<{ Querystring: IncidentQuery }>('/api/incidents', {
    onRequest: requireAuth,
    schema: {
      summary: 'Open incidents and recently closed ones in the caller\'s districts',
      tags: ['alarms'],
      querystring: {
        type: 'object',
        properties: { state: { type: 'string', enum: ['open', 'acknowledged', 'closed'], description: 'open = open or acknowledged' } },
        additionalProperties: false,
      },
      response: { 200: { type: 'object', properties: { incidents: { type: 'array', items: { $ref: 'Incident#' } } }, required: ['incidents'] }, ...errors(400, 401, 429) },
    },
  }, function listIncidents (request) {
    const principal = ctx.principalOf(request)
    const { state } = request.query
    const incidents = (ctx.alarms.incidents?.list() ?? []).filter(function matches (incident) {
      if (!canSee(principal, incident.district)) return false
      return state === 'open' ? incident.state !== 'closed' : state === undefined || incident.state === state
    })
    return { incidents }
  })

  app.post<{ Params: { id: string }; Body: { note?: string } | undefined }>('/api/incidents/:id/ack', {
    onRequest: requireAuth,
    schema: {
      summary: 'Acknowledge an incident and every active member alarm; ackedBy = the signed-in name',
      tags: ['alarms'],
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 128 } }, required: ['id'] },
      body: { type: 'object', properties: { note: { type: 'string', maxLength: 500 } }, additionalProperties: false },
      response: { 200: { $ref: 'Incident#' }, ...errors(400, 401, 404, 409, 429) },
    },
  }, async function acknowledgeIncident (request, reply) {
    const principal = ctx.principalOf(request)
    const note = request.body?.note?.trim()
    const outcome = await ctx.alarms.incidents?.acknowledge(principal.name, principal.districts, request.params.id, note === '' ? undefined : note, Date.now())
    if (outcome?.ok === true) {
      request.log.info({ incidentId: request.params.id, by: principal.name }, 'incident acknowledged over HTTP')
      return outcome.incident
    }
    if (outcome?.reason === 'closed') return sendError(reply, 409, 'the incident is already closed')
    // Another district's incident is not the caller's to see: the same 404 as an unknown id.
    return sendError(reply, 404, `no open incident ${request.params.id}`)
  })
}
