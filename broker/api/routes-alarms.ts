// GET /api/alarms (filter by state, district, severity; sorted by severity, then oldest first)
// and POST /api/alarms/:id/ack with the MQTT acknowledgement's rules: only an active alarm in
// one of the caller's districts; ackedBy is the signed-in name, never taken from the body. In a
// cluster the acknowledgement is stored by compare-and-set first: 503 when NATS cannot store it.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AlarmRecord } from '../alarms/alarm.ts'
import { canSee } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { alarmListSchema, errors, nameSchema, severityEnum, stateEnum } from './schemas.ts'

const SEVERITY_ORDER: Record<string, number> = { critical: 0, major: 1, minor: 2, warning: 3 }

/** Most severe first; within a severity the oldest first (it has waited longest). */
export function compareAlarms (a: AlarmRecord, b: AlarmRecord): number {
  return (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || a.raisedAt.localeCompare(b.raisedAt)
}

interface AlarmQuery { state?: 'open' | AlarmRecord['state']; district?: string; severity?: AlarmRecord['severity'] }

export function registerAlarmRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  app.get<{ Querystring: AlarmQuery }>('/api/alarms', {
    onRequest: requireAuth,
    schema: {
      summary: 'Open alarms and recently cleared ones the caller may see',
      tags: ['alarms'],
      querystring: {
        type: 'object',
        properties: {
          state: { type: 'string', enum: ['open', ...stateEnum], description: 'open = active or acknowledged' },
          district: nameSchema,
          severity: { type: 'string', enum: severityEnum },
        },
        additionalProperties: false,
      },
      response: { 200: alarmListSchema, ...errors(400, 401, 403, 429) },
    },
  }, async function listAlarms (request, reply) {
    const principal = ctx.principalOf(request)
    const { state, district, severity } = request.query
    if (district !== undefined && !canSee(principal, district)) return sendError(reply, 403, `district ${district} is not one of yours`)
    const alarms = ctx.alarms.list().filter(function matches (alarm) {
      if (!canSee(principal, alarm.district)) return false
      if (state === 'open' ? alarm.state === 'cleared' : state !== undefined && alarm.state !== state) return false
      return (district === undefined || alarm.district === district) && (severity === undefined || alarm.severity === severity)
    })
    return { alarms: alarms.sort(compareAlarms) }
  })

  app.post<{ Params: { id: string }; Body: { note?: string } | undefined }>('/api/alarms/:id/ack', {
    onRequest: requireAuth,
    schema: {
      summary: 'Acknowledge an active alarm (the same rules as over MQTT); ackedBy = the signed-in name',
      tags: ['alarms'],
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 128 } }, required: ['id'] },
      body: { type: 'object', properties: { note: { type: 'string', maxLength: 500 } }, additionalProperties: false },
      response: { 200: { $ref: 'Alarm#' }, ...errors(400, 401, 404, 409, 429, 503) },
    },
  }, async function acknowledge (request, reply) {
    const principal = ctx.principalOf(request)
    const note = request.body?.note?.trim()
    const outcome = await ctx.alarms.acknowledgeById(principal.name, principal.districts, request.params.id, note === '' ? undefined : note)
    if (outcome.ok) {
      request.log.info({ alarmId: request.params.id, by: principal.name }, 'alarm acknowledged over HTTP')
      return outcome.alarm
    }
    // An alarm in another district is not the caller's to see: the same 404 as an unknown id.
    if (outcome.reason === 'already_acknowledged') return sendError(reply, 409, 'the alarm is already acknowledged')
    if (outcome.reason === 'unavailable') return sendError(reply, 503, 'the acknowledgement could not be stored (cluster storage unreachable); try again')
    const cleared = ctx.alarms.list().find(function byId (a) { return a.id === request.params.id && a.state === 'cleared' })
    if (cleared !== undefined && canSee(principal, cleared.district)) return sendError(reply, 409, 'the alarm is already cleared')
    return sendError(reply, 404, `no open alarm ${request.params.id}`)
  })
}
