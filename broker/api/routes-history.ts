// GET /api/alarms/history and GET /api/alarms/:id/timeline: alarms of the caller's districts
// with who acknowledged them, when, and how long raise → acknowledgement → clear took, from
// InfluxDB merged with memory (history-reader.ts). InfluxDB unset or not answering is a partial
// answer with a warning, never a 5xx.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { canSee } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { MAX_HISTORY_HOURS, MAX_HISTORY_LIMIT, readHistory, readTimeline, type HistorySources, type Shortfall } from './history-reader.ts'
import { alarmHistorySchema, alarmTimelineSchema, errors, nameSchema } from './schemas.ts'

interface HistoryQuerystring { district?: string; deviceId?: string; hours: number; limit: number }

export function registerHistoryRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  const sources: HistorySources = {
    influx: ctx.influxQl,
    journal: ctx.journal,
    records () { return ctx.alarms.list() },
    locationOf (deviceId) {
      const device = ctx.registry.getDevice(deviceId)
      return device?.lat === undefined || device.lon === undefined ? undefined : { lat: device.lat, lon: device.lon }
    },
    nowMs () { return Date.now() },
    cipher: ctx.cipher,
  }

  function logShortfall (request: FastifyRequest, shortfall: Shortfall | undefined): void {
    if (shortfall?.err === undefined) return
    const suppressed = ctx.throttle.take('history_influx_failed')
    if (suppressed !== undefined) request.log.warn({ err: shortfall.err, reason: 'influx_query_failed', suppressedSinceLast: suppressed }, 'alarm history answered from memory only')
  }

  app.get<{ Querystring: HistoryQuerystring }>('/api/alarms/history', {
    onRequest: requireAuth,
    schema: {
      summary: 'Alarms open now or changed in the last hours, newest raise first: who acknowledged, when, time to acknowledge and to clear',
      tags: ['alarms'],
      querystring: {
        type: 'object',
        properties: {
          district: nameSchema,
          deviceId: nameSchema,
          hours: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_HOURS, default: 24 },
          limit: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_LIMIT, default: 200 },
        },
        additionalProperties: false,
      },
      response: { 200: alarmHistorySchema, ...errors(400, 401, 403, 404, 429) },
    },
  }, async function history (request, reply) {
    const principal = ctx.principalOf(request)
    const { district, deviceId, hours, limit } = request.query
    if (district !== undefined && !canSee(principal, district)) return sendError(reply, 403, `district ${district} is not one of yours`)
    // A device of another district is not the caller's to see (as on /api/devices/{id}); a
    // device no longer registered may still have history.
    const device = deviceId === undefined ? undefined : ctx.registry.getDevice(deviceId)
    if (device !== undefined && !canSee(principal, device.district)) return sendError(reply, 404, `no device ${deviceId ?? ''}`)
    const { answer, shortfall } = await readHistory(sources, { visible: principal.districts, district, deviceId, hours, limit })
    logShortfall(request, shortfall)
    return answer
  })

  app.get<{ Params: { id: string } }>('/api/alarms/:id/timeline', {
    onRequest: requireAuth,
    schema: {
      summary: 'One alarm\'s changes in order: raised, escalations, acknowledgements (by whom, with the note), cleared',
      tags: ['alarms'],
      params: { type: 'object', properties: { id: nameSchema }, required: ['id'] },
      response: { 200: alarmTimelineSchema, ...errors(400, 401, 404, 429) },
    },
  }, async function timeline (request, reply) {
    const principal = ctx.principalOf(request)
    const { answer, shortfall } = await readTimeline(sources, request.params.id, principal.districts)
    logShortfall(request, shortfall)
    if (answer !== undefined) return answer
    // An alarm in another district is not the caller's to see: the same 404 as an unknown id.
    return sendError(reply, 404, `no alarm ${request.params.id}${shortfall === undefined ? '' : ` (${shortfall.warning})`}`)
  })
}
