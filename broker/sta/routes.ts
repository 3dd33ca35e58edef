// GET /sta/v1.1 and GET /sta/v1.1/* behind the API's authentication: the SensorThings API,
// read-only, filtered through the caller's ConsumerScope (scopeOfRequest). Errors are the API's
// `{ statusCode, error, message }`: 400 malformed, 404 absent or hidden, 501 not implemented,
// 502/503 InfluxDB not answering or not configured.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { sendError, type ApiContext } from '../api/context.ts'
import { InfluxQlError } from '../api/influxql.ts'
import { createScopeOfRequest, noteResultRows } from '../api/request-scope.ts'
import { errors } from '../api/schemas.ts'
import { createObservationReader } from './observation-reader.ts'
import { createRegistryModel } from './registry-model.ts'
import { MAX_OBSERVATION_READS, MAX_READINGS_PER_REQUEST } from './render.ts'
import { serveSta } from './serve.ts'
import { StaError } from './sta-error.ts'

export const STA_PREFIX = '/sta/v1.1'

const QUERY_OPTIONS = {
  type: 'object',
  properties: {
    $top: { description: 'page size, default 100, at most 1000' },
    $skip: { description: 'entities to skip (Observations: at most 1000; follow @iot.nextLink instead)' },
    $count: { description: 'true: the collection\'s size in @iot.count' },
    $orderby: { description: 'e.g. name desc; Observations: phenomenonTime asc|desc only' },
    $select: { description: 'e.g. id,name' },
    $expand: { description: 'e.g. Datastreams($select=name;$expand=Observations($top=3;$orderby=phenomenonTime desc))' },
    $filter: { description: 'OData filter with the SensorThings 1.1 functions, e.g. st_within(location, geography\'POLYGON((…))\')' },
    $skiptoken: { description: 'from @iot.nextLink' },
  },
} as const

export function registerStaRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  const scopeOfRequest = createScopeOfRequest(ctx)
  const reader = ctx.influxQl === undefined ? undefined : createObservationReader(ctx.influxQl)

  async function answer (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const [pathAndPrefix = '', search = ''] = request.url.split(/\?(.*)/s, 2)
    const rawPath = pathAndPrefix.slice(STA_PREFIX.length)
    const base = `${request.protocol}://${request.host}${STA_PREFIX}`
    const mqttEndpoints = ctx.mqttPort === undefined ? [] : [`mqtt://${request.hostname}:${ctx.mqttPort}`]
    try {
      const result = await serveSta({
        model: createRegistryModel(ctx.registry, scopeOfRequest(request)),
        reader,
        base,
        nowMs: Date.now(),
        observationReads: { left: MAX_OBSERVATION_READS },
        readingBudget: { left: MAX_READINGS_PER_REQUEST },
      }, rawPath, search, mqttEndpoints)
      noteResultRows(request, rowsOf(result))
      if ('text' in result) return await reply.type('text/plain; charset=utf-8').send(result.text)
      return await reply.type('application/json; charset=utf-8').send(JSON.stringify(result.json))
    } catch (err) {
      if (err instanceof StaError) return sendError(reply, err.statusCode, err.message)
      if (err instanceof InfluxQlError) {
        const suppressed = ctx.throttle.take('sta_influx_failed')
        if (suppressed !== undefined) request.log.warn({ err, suppressedSinceLast: suppressed }, 'SensorThings query to InfluxDB failed')
        return sendError(reply, 502, `InfluxDB did not answer: ${err.message}`)
      }
      throw err
    }
  }

  const schema = {
    tags: ['sensorthings'],
    querystring: QUERY_OPTIONS,
    response: errors(400, 401, 404, 429, 501, 502, 503),
  }
  app.get(STA_PREFIX, {
    onRequest: requireAuth,
    schema: { ...schema, summary: 'SensorThings API 1.1 service root: entity sets and serverSettings (conformance, MQTT endpoint)' },
  }, answer)
  app.get(`${STA_PREFIX}/*`, {
    onRequest: requireAuth,
    schema: {
      ...schema,
      summary: 'SensorThings API 1.1 (read-only): Things, Locations, HistoricalLocations, Datastreams, Sensors, ObservedProperties, Observations, FeaturesOfInterest; OData paths, $value, $ref and query options',
      params: { type: 'object', properties: { '*': { type: 'string', description: 'resource path, e.g. Things(\'lamp-001\')/Datastreams' } } },
    },
  }, answer)
}

/** Entities in an answer, for a consumer's `access` point: a collection's page size, else one. */
function rowsOf (result: { text: string } | { json: unknown }): number {
  if ('text' in result) return 1
  const value = (result.json as { value?: unknown }).value
  return Array.isArray(value) ? value.length : 1
}
