// Maintenance windows over HTTP: GET /api/maintenance (operators see every window, crews those of
// their districts), POST /api/maintenance (operators any; crews a device or district of theirs) and
// POST /api/maintenance/{id}/end. A window another crew may not see answers 404, as if absent.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { planWindow, sortWindows } from '../maintenance/store.ts'
import { parseWhen } from '../maintenance/when.ts'
import type { MaintenanceScope, MaintenanceWindow } from '../maintenance/window.ts'
import { canSee, type Principal } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { errors, maintenanceDraftJsonSchema } from './schemas.ts'

interface DraftBody { device?: string; district?: string; group?: string; from?: string; to: string; reason: string }

type Status = 'running' | 'upcoming' | 'ended'

function statusOf (window: MaintenanceWindow, nowMs: number): Status {
  if (Date.parse(window.to) <= nowMs) return 'ended'
  return Date.parse(window.from) <= nowMs ? 'running' : 'upcoming'
}

export function registerMaintenanceRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  /** Whether the caller may see (and end) a window of this scope. */
  function maySee (principal: Principal, scope: MaintenanceScope): boolean {
    if (principal.districts === undefined) return true
    if (scope.kind === 'district') return canSee(principal, scope.name)
    if (scope.kind === 'device') {
      const device = ctx.registry.getDevice(scope.name)
      return device !== undefined && canSee(principal, device.district)
    }
    for (const [, device] of ctx.registry.listDevices()) {
      if (device.group === scope.name && canSee(principal, device.district)) return true
    }
    return false
  }

  function shown (window: MaintenanceWindow, nowMs: number): MaintenanceWindow & { status: Status } {
    return { ...window, status: statusOf(window, nowMs) }
  }

  app.get<{ Querystring: { status?: Status } }>('/api/maintenance', {
    onRequest: requireAuth,
    schema: {
      summary: 'Maintenance windows the caller may see: running first, then upcoming, then those ended in the last 7 days',
      tags: ['maintenance'],
      querystring: { type: 'object', properties: { status: { type: 'string', enum: ['running', 'upcoming', 'ended'] } }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { windows: { type: 'array', items: { $ref: 'MaintenanceWindow#' } } }, required: ['windows'] }, ...errors(400, 401, 429) },
    },
  }, function listWindows (request) {
    const principal = ctx.principalOf(request)
    const nowMs = Date.now()
    const windows = sortWindows(ctx.maintenance.current(), nowMs)
      .filter(function visible (w) { return maySee(principal, w.scope) })
      .map(function withStatus (w) { return shown(w, nowMs) })
      .filter(function chosen (w) { return request.query.status === undefined || w.status === request.query.status })
    return { windows }
  })

  app.post<{ Body: DraftBody }>('/api/maintenance', {
    onRequest: requireAuth,
    schema: {
      summary: 'Adds a maintenance window for one device, district or group: its alarms are recorded but not pushed to crews until it ends',
      tags: ['maintenance'],
      body: maintenanceDraftJsonSchema,
      response: { 201: { $ref: 'MaintenanceWindow#' }, ...errors(400, 401, 403, 404, 429) },
    },
  }, async function addWindow (request, reply) {
    const principal = ctx.principalOf(request)
    const body = request.body
    const named = (['device', 'district', 'group'] as const).filter(function given (key) { return body[key] !== undefined })
    if (named.length !== 1) return sendError(reply, 400, 'give exactly one of device, district, group')
    const kind = named[0]!
    const scope: MaintenanceScope = { kind, name: body[kind] ?? '' }
    if (kind === 'device') {
      const device = ctx.registry.getDevice(scope.name)
      if (device === undefined || !canSee(principal, device.district)) return sendError(reply, 404, `no device ${scope.name} of yours`)
    } else if (kind === 'district') {
      if (!canSee(principal, scope.name)) return sendError(reply, 403, `district ${scope.name} is not one of yours`)
    } else if (principal.districts !== undefined) {
      return sendError(reply, 403, 'group windows may span districts: operators add them')
    }
    const nowMs = Date.now()
    const fromMs = parseWhen(body.from ?? 'now', nowMs)
    if (fromMs === undefined) return sendError(reply, 400, 'from: not `now`, `+2h` or an ISO-8601 time with a zone')
    const toMs = parseWhen(body.to, fromMs)
    if (toMs === undefined) return sendError(reply, 400, 'to: not `+2h` or an ISO-8601 time with a zone')
    const reason = body.reason.trim()
    if (reason.length === 0) return sendError(reply, 400, 'reason: say why (the crews read it)')
    const planned = planWindow({ scope, fromMs, toMs, reason, createdBy: principal.name }, nowMs)
    if (!planned.ok) return sendError(reply, 400, `to: ${planned.message}`)
    await ctx.maintenance.add(planned.window)
    request.log.info({ maintenanceId: planned.window.id, scope, from: planned.window.from, to: planned.window.to, by: principal.name, reason: 'api' }, 'maintenance window added')
    return reply.code(201).send(shown(planned.window, nowMs))
  })

  app.post<{ Params: { id: string } }>('/api/maintenance/:id/end', {
    onRequest: requireAuth,
    schema: {
      summary: 'Ends a maintenance window now; what its devices still have open is delivered to crews',
      tags: ['maintenance'],
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
      response: { 200: { $ref: 'MaintenanceWindow#' }, ...errors(400, 401, 403, 404, 409, 429) },
    },
  }, async function endWindow (request, reply) {
    const principal = ctx.principalOf(request)
    const window = ctx.maintenance.current().find(function byId (w) { return w.id === request.params.id })
    if (window === undefined || !maySee(principal, window.scope)) return sendError(reply, 404, `no maintenance window ${request.params.id} of yours`)
    if (window.scope.kind === 'group' && principal.districts !== undefined) return sendError(reply, 403, 'group windows may span districts: operators end them')
    const nowMs = Date.now()
    const ended = await ctx.maintenance.end(window.id, principal.name, nowMs)
    if (ended === undefined) return sendError(reply, 409, `maintenance window ${window.id} has ended already`)
    request.log.info({ maintenanceId: ended.id, scope: ended.scope, by: principal.name }, 'maintenance window ended by request')
    return shown(ended, nowMs)
  })
}
