// GET /api/alarms/stats: per district and alarm type, alarms raised, time to acknowledge and to
// clear (median, 90th percentile) and escalations, over a bounded range, from the `alarms` points
// in InfluxDB (one InfluxQL statement with a time range and LIMIT) merged with the changes this
// gateway made since it started (some may still wait in the spool). InfluxDB unset or not
// answering is a partial answer with a warning, never a 5xx. Crews see their districts only.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { factOfPoint, type AlarmFact } from './alarm-history.ts'
import { STATS_CHANGES, summarise } from './alarm-stats.ts'
import { canSee } from './auth.ts'
import { sendError, type ApiContext } from './context.ts'
import { identifier, InfluxQlError, quoted, rowsOf } from './influxql.ts'
import { alarmStatsSchema, errors, nameSchema } from './schemas.ts'
import type { AlarmStats } from './types.ts'

/** The longest range asked for, days. */
export const MAX_STATS_DAYS = 90
/** The range when none is given: the last 7 days. */
const DEFAULT_STATS_DAYS = 7
/** Changes read from InfluxDB at most; more makes a partial answer (narrow the range or pick a district). */
export const MAX_STATS_POINTS = 100_000
const DAY_MS = 86_400_000
const COLUMNS = ['alarm_id', 'change', 'state', 'severity', 'device_id', 'district', 'kind', 'type', 'message', 'ack_sec', 'clear_sec', 'escalation'] as const
const FROM_MEMORY = 'only the changes this gateway made since it started'

interface StatsQuerystring { from?: string; to?: string; district?: string }

export function registerStatsRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  app.get<{ Querystring: StatsQuerystring }>('/api/alarms/stats', {
    onRequest: requireAuth,
    schema: {
      summary: 'Per district and alarm type: alarms raised, median and 90th percentile time to acknowledge and to clear, escalations',
      tags: ['alarms'],
      querystring: {
        type: 'object',
        properties: {
          from: { type: 'string', format: 'date-time', maxLength: 40, description: `default: ${DEFAULT_STATS_DAYS} days before \`to\`` },
          to: { type: 'string', format: 'date-time', maxLength: 40, description: 'default: now' },
          district: nameSchema,
        },
        additionalProperties: false,
      },
      response: { 200: alarmStatsSchema, ...errors(400, 401, 403, 429) },
    },
  }, async function stats (request, reply) {
    const principal = ctx.principalOf(request)
    const { district } = request.query
    if (district !== undefined && !canSee(principal, district)) return sendError(reply, 403, `district ${district} is not one of yours`)
    const toMs = request.query.to === undefined ? Date.now() : Date.parse(request.query.to)
    const fromMs = request.query.from === undefined ? toMs - DEFAULT_STATS_DAYS * DAY_MS : Date.parse(request.query.from)
    if (!(fromMs < toMs)) return sendError(reply, 400, 'from must be before to')
    if (toMs - fromMs > MAX_STATS_DAYS * DAY_MS) return sendError(reply, 400, `the range may be at most ${MAX_STATS_DAYS} days`)

    const visible = principal.districts
    function selects (fact: AlarmFact): boolean {
      if (fact.atMs < fromMs || fact.atMs >= toMs) return false
      if (visible !== undefined && !visible.includes(fact.district)) return false
      return district === undefined || fact.district === district
    }

    const facts: AlarmFact[] = []
    for (const [, held] of ctx.journal.alarms()) {
      for (const fact of held) if (selects(fact)) facts.push(fact)
    }
    let warning: string | undefined
    // A caller without districts sees nothing: no statement to run.
    if (ctx.influxQl === undefined) {
      warning = `INFLUX_URL is not set: ${FROM_MEMORY}`
    } else if (visible === undefined || visible.length > 0) {
      const where = [
        `"alarm_id" != ''`,
        `time >= ${quoted(new Date(fromMs).toISOString())}`,
        `time < ${quoted(new Date(toMs).toISOString())}`,
        `(${STATS_CHANGES.map(function isChange (c) { return `"change" = ${quoted(c)}` }).join(' OR ')})`,
      ]
      if (district !== undefined) where.push(`"district" = ${quoted(district)}`)
      else if (visible !== undefined) where.push(`(${visible.map(function inDistrict (d) { return `"district" = ${quoted(d)}` }).join(' OR ')})`)
      const influxql = `SELECT ${COLUMNS.map(identifier).join(',')} FROM "alarms" WHERE ${where.join(' AND ')} LIMIT ${MAX_STATS_POINTS}`
      try {
        const rows = rowsOf(await ctx.influxQl.query(influxql))
        for (const row of rows) {
          const fact = factOfPoint(row, ctx.cipher)
          if (fact !== undefined && selects(fact)) facts.push(fact)
        }
        if (rows.length >= MAX_STATS_POINTS) warning = `more than ${MAX_STATS_POINTS} alarm changes in the range: the first ${MAX_STATS_POINTS} are counted; narrow the range or pick a district`
      } catch (err) {
        if (!(err instanceof InfluxQlError)) throw err
        warning = `InfluxDB did not answer (${err.message}): ${FROM_MEMORY}`
        const suppressed = ctx.throttle.take('stats_influx_failed')
        if (suppressed !== undefined) request.log.warn({ err, reason: 'influx_query_failed', suppressedSinceLast: suppressed }, 'alarm stats answered from memory only')
      }
    }
    const answer: AlarmStats = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), groups: summarise(facts) }
    if (warning !== undefined) {
      answer.partial = true
      answer.warning = warning
    }
    return answer
  })
}
