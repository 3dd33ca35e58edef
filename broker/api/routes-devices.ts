// GET /api/devices, /api/devices/:id and /api/devices/:id/series: registry facts (kind, district,
// location) joined with the device table (online, last seen, latest values) and open alarms.
// Every answer goes through the caller's scope (request-scope.ts): crews see only their districts'
// devices (others are 404); consumers only their districts and kinds, their fields, and locations
// as precise as their scope allows, without alarm counts; operators see all.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { getKind } from '../../devices/index.ts'
import type { DeviceRecord } from '../registry/schema.ts'
import { locationFor, seesDevice, seesField, type ConsumerScope } from '../consumers/scope.ts'
import { sendError, type ApiContext } from './context.ts'
import { fieldsOf } from './kind-fields.ts'
import { noteResultRows, principalOfRequest, scopeOfRequest } from './request-scope.ts'
import { SeriesError } from './series.ts'
import { deviceListSchema, errors, nameSchema } from './schemas.ts'

const MAX_SERIES_MINUTES = 7 * 24 * 60

export function registerDeviceRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  function openAlarmCounts (): Map<string, number> {
    const counts = new Map<string, number>()
    for (const alarm of ctx.alarms.list()) {
      if (alarm.state !== 'cleared') counts.set(alarm.deviceId, (counts.get(alarm.deviceId) ?? 0) + 1)
    }
    return counts
  }

  /** `counts` undefined: alarms are not shared with the caller (consumers), the field is left out. */
  function summary (id: string, record: DeviceRecord, counts: Map<string, number> | undefined, scope: ConsumerScope | undefined) {
    const life = ctx.devices.get(id)
    const latest: Record<string, { value: number | boolean; ts: string }> = {}
    for (const [field, entry] of life?.latest ?? []) {
      if (scope === undefined || seesField(scope, field)) latest[field] = { value: entry.value, ts: new Date(entry.tsMs).toISOString() }
    }
    const location = locationFor(scope, record.lat, record.lon)
    return {
      id,
      kind: record.kind,
      district: record.district,
      ...(location === undefined ? {} : { location }),
      ...(record.group === undefined ? {} : { group: record.group }),
      online: (life?.connections ?? 0) > 0,
      lastSeen: life?.lastSeenMs === undefined ? null : new Date(life.lastSeenMs).toISOString(),
      latest,
      ...(counts === undefined ? {} : { openAlarms: counts.get(id) ?? 0 }),
    }
  }

  /** Open alarm counts per device, or undefined for a consumer (alarms are not shared with them). */
  function alarmCountsFor (request: FastifyRequest): Map<string, number> | undefined {
    return principalOfRequest(request)?.role === 'consumer' ? undefined : openAlarmCounts()
  }

  function isVisible (scope: ConsumerScope | undefined, record: DeviceRecord): boolean {
    return scope === undefined || seesDevice(scope, record)
  }

  /** The device's kind's fields within the scope. */
  function visibleFields (scope: ConsumerScope | undefined, kind: string) {
    return fieldsOf(kind).filter(function inScope (f) { return scope === undefined || seesField(scope, f.name) })
  }

  /** The device if the caller may see it; otherwise answers 404 and returns undefined. */
  function visibleDevice (request: FastifyRequest, reply: FastifyReply, id: string): DeviceRecord | undefined {
    const record = ctx.registry.getDevice(id)
    if (record === undefined || !isVisible(scopeOfRequest(request), record)) {
      void sendError(reply, 404, `no device ${id}`)
      return undefined
    }
    return record
  }

  app.get<{ Querystring: { district?: string; kind?: string } }>('/api/devices', {
    onRequest: requireAuth,
    schema: {
      summary: 'Devices the caller may see (crews: their districts)',
      tags: ['devices'],
      querystring: { type: 'object', properties: { district: nameSchema, kind: { type: 'string' } }, additionalProperties: false },
      response: { 200: deviceListSchema, ...errors(400, 401, 429) },
    },
  }, function listDevices (request) {
    const scope = scopeOfRequest(request)
    const counts = alarmCountsFor(request)
    const devices = []
    for (const [id, record] of ctx.registry.listDevices()) {
      if (!isVisible(scope, record)) continue
      if (request.query.district !== undefined && record.district !== request.query.district) continue
      if (request.query.kind !== undefined && record.kind !== request.query.kind) continue
      devices.push(summary(id, record, counts, scope))
    }
    noteResultRows(request, devices.length)
    return { devices }
  })

  app.get<{ Params: { id: string } }>('/api/devices/:id', {
    onRequest: requireAuth,
    schema: {
      summary: 'One device with its latest readings and its kind\'s fields',
      tags: ['devices'],
      params: { type: 'object', properties: { id: nameSchema }, required: ['id'] },
      response: { 200: { $ref: 'DeviceDetail#' }, ...errors(400, 401, 404, 429) },
    },
  }, async function getDevice (request, reply) {
    const record = visibleDevice(request, reply, request.params.id)
    if (record === undefined) return reply
    const scope = scopeOfRequest(request)
    noteResultRows(request, 1)
    return { ...summary(request.params.id, record, alarmCountsFor(request), scope), fields: visibleFields(scope, record.kind) }
  })

  app.get<{ Params: { id: string }; Querystring: { field?: string; minutes: number } }>('/api/devices/:id/series', {
    onRequest: requireAuth,
    schema: {
      summary: 'Recent values of one numeric field from InfluxDB, averaged into at most 240 points',
      tags: ['devices'],
      params: { type: 'object', properties: { id: nameSchema }, required: ['id'] },
      querystring: {
        type: 'object',
        properties: {
          field: { type: 'string', description: 'a numeric field of the device\'s kind (default: its first)' },
          minutes: { type: 'integer', minimum: 1, maximum: MAX_SERIES_MINUTES, default: 60 },
        },
        additionalProperties: false,
      },
      response: { 200: { $ref: 'Series#' }, ...errors(400, 401, 404, 429, 502, 503) },
    },
  }, async function getSeries (request, reply) {
    const record = visibleDevice(request, reply, request.params.id)
    if (record === undefined) return reply
    const numeric = visibleFields(scopeOfRequest(request), record.kind).filter(function isNumeric (f) { return f.type !== 'boolean' }).map(function nameOf (f) { return f.name })
    const field = request.query.field ?? numeric[0]
    if (field === undefined || !numeric.includes(field)) {
      return sendError(reply, 400, `field must be one of the numeric fields of ${record.kind}: ${numeric.join(', ')}`)
    }
    if (ctx.series === undefined) return sendError(reply, 503, 'INFLUX_URL is not set: no stored values to chart')
    const kind = getKind(record.kind)
    try {
      const series = await ctx.series.read({ measurement: kind?.measurement ?? record.kind, deviceId: request.params.id, field, minutes: request.query.minutes })
      noteResultRows(request, series.points.length)
      return { deviceId: request.params.id, field, minutes: request.query.minutes, ...series }
    } catch (err) {
      if (!(err instanceof SeriesError)) throw err
      request.log.warn({ err }, 'series query failed')
      return sendError(reply, 502, err.message)
    }
  })
}
