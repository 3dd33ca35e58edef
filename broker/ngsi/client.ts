// Enters: entities for one batch upsert. Leaves: one POST to the context broker's
// /ngsi-ld/v1/entityOperations/upsert?options=update and its outcome classified for the exporter:
// done, partly refused (207, per entity), refused as a whole (4xx), unauthorized, or retry later.
// The answer is read up to RESPONSE_MAX_BYTES and validated; the token never reaches a log.
import { z } from 'zod'
import { parseRetryAfter } from '../influx/sink-http.ts'

export interface NgsiClientOptions {
  /** Base URL (NGSI_LD_URL), e.g. http://orion-ld:1026. */
  url: string
  tenant?: string | undefined
  token?: string | undefined
  /** The @context every entity carries (NGSI_LD_CONTEXT). */
  context: string
  /** Deadline of one request, ms (NGSI_LD_TIMEOUT_MS). */
  timeoutMs: number
}

export interface OutboundEntity { id: string, type: string, attributes: Record<string, unknown> }

/** What one entity of a 207 failed with: `status` 4xx is final, anything else is retried. */
export interface EntityFailure { entityId: string, status: number, reason: string }

export type UpsertOutcome =
  | { kind: 'done' }
  | { kind: 'partial', failures: EntityFailure[] }
  | { kind: 'refused', status: number, reason: string }
  | { kind: 'unauthorized', status: number, reason: string }
  | { kind: 'retry', reason: string, status?: number, retryAfterMs?: number }

export interface NgsiClient {
  upsert(entities: readonly OutboundEntity[]): Promise<UpsertOutcome>
  /** Aborts requests in flight (their outcome is `retry`). */
  close(): void
}

/** Largest answer read; a batch result lists each entity at most once, this is plenty. */
export const RESPONSE_MAX_BYTES = 1024 * 1024
const UPSERT_PATH = '/ngsi-ld/v1/entityOperations/upsert?options=update'

const problemSchema = z.object({ type: z.string().optional(), title: z.string().optional(), status: z.number().int().optional(), detail: z.string().optional() })
const batchResultSchema = z.object({
  success: z.array(z.string()).optional(),
  errors: z.array(z.object({ entityId: z.string(), error: problemSchema })).default([]),
})

// Problem types of the NGSI-LD API that mean "this request is wrong" rather than "try later".
const FINAL_PROBLEMS = ['InvalidRequest', 'BadRequestData', 'AlreadyExists', 'OperationNotSupported', 'ResourceNotFound', 'NoMultiTenantSupport', 'NonexistentTenant']

function statusOfProblem (problem: z.infer<typeof problemSchema>): number {
  if (problem.status !== undefined) return problem.status
  const type = problem.type ?? ''
  return FINAL_PROBLEMS.some(function isType (name) { return type.endsWith(`/${name}`) }) ? 400 : 500
}

function reasonOf (problem: z.infer<typeof problemSchema> | undefined, fallback: string): string {
  if (problem === undefined) return fallback
  return [problem.title, problem.detail].filter(Boolean).join(': ').slice(0, 1000) || (problem.type ?? fallback)
}

export function createNgsiClient (options: NgsiClientOptions): NgsiClient {
  const endpoint = new URL(UPSERT_PATH, options.url.endsWith('/') ? options.url : `${options.url}/`).toString()
  const headers: Record<string, string> = { 'content-type': 'application/ld+json', accept: 'application/json' }
  if (options.tenant !== undefined) headers['NGSILD-Tenant'] = options.tenant
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const inFlight = new Set<AbortController>()

  async function upsert (entities: readonly OutboundEntity[]): Promise<UpsertOutcome> {
    const body = JSON.stringify(entities.map(function withContext (e) { return { id: e.id, type: e.type, ...e.attributes, '@context': options.context } }))
    const controller = new AbortController()
    inFlight.add(controller)
    const timer = setTimeout(function abortOnDeadline () { controller.abort(new Error(`no answer within ${options.timeoutMs} ms`)) }, options.timeoutMs)
    try {
      const response = await fetch(endpoint, { method: 'POST', headers, body, signal: controller.signal })
      const text = await readLimited(response)
      return classify(response, text)
    } catch (err) {
      return { kind: 'retry', reason: err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err) }
    } finally {
      clearTimeout(timer)
      inFlight.delete(controller)
    }
  }

  return {
    upsert,
    close () {
      for (const controller of inFlight) controller.abort(new Error('NGSI-LD export closing'))
    },
  }
}

function classify (response: Response, text: string): UpsertOutcome {
  const status = response.status
  if (status === 201 || status === 204 || status === 200) return { kind: 'done' }
  const json = parseJson(text)
  if (status === 207) {
    const result = batchResultSchema.safeParse(json)
    // A 207 we cannot read tells nothing about which entities were taken: send them all again.
    if (!result.success) return { kind: 'retry', status, reason: 'unreadable 207 answer' }
    return { kind: 'partial', failures: result.data.errors.map(function failureOf (e) { return { entityId: e.entityId, status: statusOfProblem(e.error), reason: reasonOf(e.error, 'refused') } }) }
  }
  const problem = problemSchema.safeParse(json)
  const reason = reasonOf(problem.success ? problem.data : undefined, `HTTP ${status}`)
  if (status === 401 || status === 403) return { kind: 'unauthorized', status, reason }
  // 404 and 408 are a wrong or unready URL and a slow server, not a bad entity.
  if (status === 429 || status >= 500 || status === 404 || status === 408) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after') ?? undefined)
    return retryAfterMs === undefined ? { kind: 'retry', status, reason } : { kind: 'retry', status, reason, retryAfterMs }
  }
  if (status >= 400) return { kind: 'refused', status, reason }
  return { kind: 'retry', status, reason: `unexpected HTTP ${status}` }
}

async function readLimited (response: Response): Promise<string> {
  if (response.body === null) return ''
  const chunks: Uint8Array[] = []
  let bytes = 0
  for await (const part of response.body) {
    const chunk = part as Uint8Array
    bytes += chunk.byteLength
    if (bytes > RESPONSE_MAX_BYTES) break // the rest is not needed to classify; the connection is let go
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}
