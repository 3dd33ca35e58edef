// GET /api/alarms/stream: server-sent events, one `alarm` event ({ change, alarm }) per state
// change the caller may see. A comment line every heartbeat keeps proxies from closing the stream
// and re-checks the session; all streams end when the server closes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AlarmEvent } from '../alarms/alarm.ts'
import { canSee } from './auth.ts'
import type { ApiContext } from './context.ts'
import { resolvePrincipal } from './routes-session.ts'
import { errors } from './schemas.ts'

const DEFAULT_HEARTBEAT_MS = 20_000

export function registerAlarmStream (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  const open = new Set<() => void>()
  app.addHook('preClose', function endStreams (done) {
    for (const end of [...open]) end()
    done()
  })

  app.get('/api/alarms/stream', {
    onRequest: requireAuth,
    schema: {
      summary: 'Server-sent events: `event: alarm`, data `{ change, alarm }` for every alarm change in the caller\'s districts',
      tags: ['alarms'],
      produces: ['text/event-stream'],
      response: { 200: { description: 'an endless text/event-stream', type: 'string' }, ...errors(401) },
    },
  }, function stream (request, reply) {
    const principal = ctx.principalOf(request)
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    raw.write('retry: 3000\n\nevent: ready\ndata: {}\n\n')
    let sequence = 0
    const unsubscribe = ctx.alarms.subscribe(function forward (event: AlarmEvent) {
      if (!canSee(principal, event.alarm.district)) return
      sequence += 1
      raw.write(`event: alarm\nid: ${sequence}\ndata: ${JSON.stringify({ change: event.change, alarm: event.alarm })}\n\n`)
    })
    const heartbeat = setInterval(function keepAlive () {
      // A signed-out, expired or removed account stops receiving.
      if (resolvePrincipal(ctx, request)?.name !== principal.name) end()
      else raw.write(': keep-alive\n\n')
    }, ctx.heartbeatMs ?? DEFAULT_HEARTBEAT_MS)
    heartbeat.unref()
    function end (): void {
      if (!open.delete(end)) return
      clearInterval(heartbeat)
      unsubscribe()
      raw.end()
    }
    open.add(end)
    request.raw.once('close', end)
  })
}
