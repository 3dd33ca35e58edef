// GET /api/alarms/stream: server-sent events, one `alarm` event ({ change, alarm }) per state
// change the caller may see. A comment line every heartbeat keeps proxies from closing the stream
// and re-checks the session, as does every session that ends (sign-out, revocation), so a revoked
// session's stream closes at once; all streams end when the server closes. A client that stops reading is
// dropped once its unsent bytes pass the cap or do not drain in time, and one account holds at most
// streamsPerAccount streams, so neither can grow the gateway's memory.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AlarmEvent } from '../alarms/alarm.ts'
import { canSee } from './auth.ts'
import { createBoundedWriter, type DropReason } from './bounded-writer.ts'
import { sendError, type ApiContext } from './context.ts'
import { resolvePrincipal, SESSION_COOKIE } from './routes-session.ts'
import { errors } from './schemas.ts'

export interface AlarmStreamStats {
  /** Streams open now. */
  open(): number
  /** Unsent bytes held for all streams now. */
  bufferedBytes(): number
}

export function registerAlarmStream (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): AlarmStreamStats {
  const log = ctx.log.child({ module: 'alarm-stream' })
  const open = new Map<() => void, () => number>()
  const perAccount = new Map<string, number>()
  /** Ends each open stream whose caller is no longer signed in. */
  const rechecks = new Set<() => void>()
  ctx.auth.onEnded(function recheckStreams () {
    for (const recheck of [...rechecks]) recheck()
  })
  app.addHook('preClose', function endStreams (done) {
    for (const end of [...open.keys()]) end()
    done()
  })

  app.get('/api/alarms/stream', {
    onRequest: requireAuth,
    schema: {
      summary: 'Server-sent events: `event: alarm`, data `{ change, alarm }` for every alarm change in the caller\'s districts',
      tags: ['alarms'],
      produces: ['text/event-stream'],
      response: { 200: { description: 'an endless text/event-stream', type: 'string' }, ...errors(401, 429) },
    },
  }, function stream (request, reply) {
    const principal = ctx.principalOf(request)
    const name = principal.name
    const held = perAccount.get(name) ?? 0
    if (held >= ctx.streamsPerAccount) {
      ctx.onLimit?.('api_streams_per_account')
      const suppressed = ctx.throttle.take(`stream api_streams_per_account ${name}`)
      if (suppressed !== undefined) {
        log.warn({ name, ip: request.ip, reason: 'api_streams_per_account', max: ctx.streamsPerAccount, suppressedSinceLast: suppressed }, 'alarm stream refused: too many open')
      }
      return sendError(reply.header('retry-after', '10'), 429, `at most ${ctx.streamsPerAccount} alarm streams per account are open at once`)
    }
    perAccount.set(name, held + 1)

    reply.hijack()
    const raw = reply.raw
    const writer = createBoundedWriter(raw, {
      maxBufferBytes: ctx.streamBufferBytes,
      drainTimeoutMs: ctx.streamDrainTimeoutMs,
      onDrop: function dropped (reason: DropReason, bufferedBytes: number) {
        ctx.onStreamDropped?.(reason)
        const suppressed = ctx.throttle.take(`stream ${reason} ${name}`)
        if (suppressed === undefined) return
        log.warn({ name, ip: request.ip, reason, bufferedBytes, maxBufferBytes: ctx.streamBufferBytes, drainTimeoutMs: ctx.streamDrainTimeoutMs, suppressedSinceLast: suppressed }, 'alarm stream closed: the client does not read')
      },
    })
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    writer.write('retry: 3000\n\nevent: ready\ndata: {}\n\n')
    let sequence = 0
    function send (event: AlarmEvent): void {
      if (!canSee(principal, event.alarm.district)) return
      sequence += 1
      writer.write(`event: alarm\nid: ${sequence}\ndata: ${JSON.stringify({ change: event.change, alarm: event.alarm })}\n\n`)
    }
    // What a maintenance window holds back from crews' phones is held back here too, and comes as a raise when it ends.
    const unsubscribeChanges = ctx.alarms.subscribe(function forward (event: AlarmEvent) {
      if (!ctx.alarms.isHeldBack(event)) send(event)
    })
    const unsubscribeReleases = ctx.alarms.onReleased(function forwardReleased (alarms) {
      for (const alarm of alarms) send({ change: 'raised', alarm })
    })
    function unsubscribe (): void {
      unsubscribeChanges()
      unsubscribeReleases()
    }
    // A signed-out, revoked, expired or removed account stops receiving.
    function isSignedIn (): boolean { return resolvePrincipal(ctx, request)?.name === name }
    function recheck (): void {
      // A stream opened with HTTP Basic has no session to lose (and re-checking its secret is costly).
      if (request.cookies[SESSION_COOKIE] !== undefined && !isSignedIn()) end()
    }
    const heartbeat = setInterval(function keepAlive () {
      if (isSignedIn()) writer.write(': keep-alive\n\n')
      else end()
    }, ctx.heartbeatMs)
    heartbeat.unref()
    function end (): void {
      if (!open.delete(end)) return
      rechecks.delete(recheck)
      const left = (perAccount.get(name) ?? 1) - 1
      if (left <= 0) perAccount.delete(name)
      else perAccount.set(name, left)
      clearInterval(heartbeat)
      unsubscribe()
      const isBackedUp = writer.bufferedBytes() > 0
      writer.close()
      raw.off('close', end)
      // end() would wait for a client that does not read, holding its buffer and the server's close.
      if (isBackedUp) raw.destroy()
      else raw.end()
    }
    open.set(end, function buffered () { return writer.bufferedBytes() })
    rechecks.add(recheck)
    raw.once('close', end)
    // A client gone while it was being authenticated: its 'close' has already been emitted.
    if (request.raw.socket.destroyed) end()
    return undefined
  })

  return {
    open () { return open.size },
    bufferedBytes () {
      let total = 0
      for (const buffered of open.values()) total += buffered()
      return total
    },
  }
}
