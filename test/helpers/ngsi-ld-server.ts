// A context broker stand-in for tests: answers POST /ngsi-ld/v1/entityOperations/upsert as the
// NGSI-LD API says (201 with the created ids, 204 when all existed, 207 with `errors`, 400, 503,
// slow or randomly delayed answers) and keeps the entities it took, merging attributes as `options=update` does.
// Loopback, random free port; every request is recorded with its headers and body.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type NgsiEntityBody = Record<string, unknown> & { id: string, type: string }

export interface RecordedRequest {
  readonly url: string
  readonly headers: IncomingMessage['headers']
  readonly entities: NgsiEntityBody[]
  readonly status: number
}

/** What the server does with one request; `entities` as sent. Default: take them all. */
export type Behaviour =
  | { mode: 'ok' }
  | { mode: 'down', status?: number, retryAfterSec?: number }
  | { mode: 'slow', delayMs: number }
  /** Each request waits a random time up to maxDelayMs before it is taken: concurrent requests are taken out of order. */
  | { mode: 'jitter', maxDelayMs: number }
  /** 207: ids for which `refuse` returns a status are not taken. */
  | { mode: 'partial', refuse: (id: string) => number | undefined }
  /** 400 for the whole request while it holds an id `isBad` names; otherwise as ok. */
  | { mode: 'bad-batch', isBad: (id: string) => boolean }

export interface NgsiLdServer {
  readonly url: string
  readonly requests: RecordedRequest[]
  /** Entities taken so far, by id, attributes merged. */
  readonly entities: Map<string, NgsiEntityBody>
  behave(next: Behaviour): void
  close(): Promise<void>
}

const PROBLEM = 'https://uri.etsi.org/ngsi-ld/errors/'

export async function startNgsiLdServer (): Promise<NgsiLdServer> {
  let behaviour: Behaviour = { mode: 'ok' }
  const requests: RecordedRequest[] = []
  const entities = new Map<string, NgsiEntityBody>()

  function take (list: readonly NgsiEntityBody[]): string[] {
    const created: string[] = []
    for (const entity of list) {
      const present = entities.get(entity.id)
      if (present === undefined) created.push(entity.id)
      entities.set(entity.id, { ...present, ...entity })
    }
    return created
  }

  function send (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body)
    res.writeHead(status, { ...(text === '' ? {} : { 'content-type': status === 207 || status < 300 ? 'application/json' : 'application/problem+json' }), ...headers })
    res.end(text)
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    if (req.method !== 'POST' || !(req.url ?? '').startsWith('/ngsi-ld/v1/entityOperations/upsert')) {
      send(res, 404, { type: `${PROBLEM}ResourceNotFound`, title: 'not found' })
      return
    }
    const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as NgsiEntityBody[]
    const record = (status: number): void => { requests.push({ url: req.url ?? '', headers: req.headers, entities: list, status }) }
    const current = behaviour
    if (current.mode === 'down') {
      const status = current.status ?? 503
      record(status)
      send(res, status, { type: `${PROBLEM}InternalError`, title: 'unavailable' }, current.retryAfterSec === undefined ? {} : { 'retry-after': String(current.retryAfterSec) })
      return
    }
    if (current.mode === 'slow') await new Promise((resolve) => setTimeout(resolve, current.delayMs))
    if (current.mode === 'jitter') await new Promise((resolve) => setTimeout(resolve, Math.random() * current.maxDelayMs))
    if (current.mode === 'bad-batch' && list.some((e) => current.isBad(e.id))) {
      record(400)
      send(res, 400, { type: `${PROBLEM}BadRequestData`, title: 'Bad Request Data', detail: 'an entity is invalid' })
      return
    }
    if (current.mode === 'partial') {
      const errors: Array<{ entityId: string, error: { type: string, title: string, status: number } }> = []
      const ok: NgsiEntityBody[] = []
      for (const entity of list) {
        const status = current.refuse(entity.id)
        if (status === undefined) ok.push(entity)
        else errors.push({ entityId: entity.id, error: { type: `${PROBLEM}${status < 500 ? 'BadRequestData' : 'InternalError'}`, title: status < 500 ? 'refused' : 'internal error', status } })
      }
      take(ok)
      if (errors.length > 0) {
        record(207)
        send(res, 207, { success: ok.map((e) => e.id), errors })
        return
      }
    }
    const created = current.mode === 'partial' ? [] : take(list)
    const status = created.length > 0 ? 201 : 204
    record(status)
    send(res, status, status === 201 ? created : undefined)
  }

  const server = createServer(function onRequest (req, res) {
    handle(req, res).catch(function failed (err: unknown) {
      send(res, 500, { type: `${PROBLEM}InternalError`, title: String(err) })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    entities,
    behave (next) { behaviour = next },
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    },
  }
}
