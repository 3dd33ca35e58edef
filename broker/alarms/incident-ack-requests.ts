// DATA_DIR/incident-acks.json: acknowledgements of incidents asked for by `citygw incident ack` and
// applied by the running gateway, which writes each one's outcome back for the CLI to read (and
// remove). A locked list file like maintenance.json; the gateway polls it every REGISTRY_POLL_MS.
// Each request is applied at most once per gateway run; a request nobody collects is dropped after
// REQUEST_TTL_MS. With the data key, the note and who acknowledges (`by`, and the answered
// incident's `ackedBy`) are sealed on disk; callers see them opened.
import path from 'node:path'
import { z } from 'zod'
import { isSealed, type FieldCipher } from '../crypto/field-cipher.ts'
import { openIncident, resealIncident, sealIncident } from '../crypto/sealed-incident.ts'
import { GatewayError, isGatewayError } from '../errors.ts'
import { lockedListFile } from '../locked-list-file.ts'
import type { Logger } from '../log.ts'
import { watchFileChanges } from '../watched-file.ts'
import { incidentSchema } from './incident-record.ts'
import type { IncidentAckOutcome } from './incidents.ts'

export const INCIDENT_ACKS_FILE = 'incident-acks.json'
/** A request older than this is dropped (a CLI that gave up, a gateway that was down). */
export const REQUEST_TTL_MS = 10 * 60_000

export const incidentAckRequestSchema = z.object({
  /** Chosen by the CLI: 16 hex digits. */
  id: z.string().regex(/^[0-9a-f]{16}$/),
  incidentId: z.string().min(1).max(64),
  note: z.string().max(500).optional(),
  /** Who acknowledges: `ackedBy` of the incident and its members. */
  by: z.string().min(1).max(64),
  requestedAt: z.number().int(),
  /** Written by the gateway once applied: the API's 200, 404 and 409. */
  outcome: z.enum(['acknowledged', 'not_found', 'closed']).optional(),
  incident: incidentSchema.optional(),
})
export type IncidentAckRequest = z.infer<typeof incidentAckRequestSchema>

/** A request as on disk: `by` and `note` clear (no key) or sealed, so longer; checked again once opened. */
const storedAckRequestSchema = incidentAckRequestSchema.extend({
  by: z.string().min(1).max(1024),
  note: z.string().max(4096).optional(),
})
type StoredAckRequest = z.infer<typeof storedAckRequestSchema>

const requestsFile = lockedListFile({ key: 'requests', entry: storedAckRequestSchema, what: 'incident acknowledgements', maxBytes: 1024 * 1024 })

export function incidentAcksPath (dataDir: string): string {
  return path.join(dataDir, INCIDENT_ACKS_FILE)
}

type Convert = (field: 'ackedBy' | 'ackNote', value: string) => string

function convert (request: StoredAckRequest, fn: Convert, incidentOf: (incident: NonNullable<StoredAckRequest['incident']>) => NonNullable<StoredAckRequest['incident']>): StoredAckRequest {
  const out: StoredAckRequest = { ...request, by: fn('ackedBy', request.by) }
  if (request.note !== undefined) out.note = fn('ackNote', request.note)
  if (request.incident !== undefined) out.incident = incidentOf(request.incident)
  return out
}

function sealRequest (request: IncidentAckRequest, cipher: FieldCipher | undefined): StoredAckRequest {
  if (cipher === undefined) return request
  return convert(request, function seal (field, value) { return cipher.seal(field, value) }, function sealed (incident) { return sealIncident(incident, cipher) })
}

/** The request opened, or a problem: not opening (altered, or a key not held), or not valid once opened. */
function openRequest (stored: StoredAckRequest, cipher: FieldCipher | undefined): { request: IncidentAckRequest } | { request: undefined; problem: string } {
  try {
    const opened = convert(stored, function open (field, value) {
      if (cipher !== undefined) return cipher.open(field, value)
      if (isSealed(value)) throw new GatewayError('CSG_DATA_KEY_MISSING', 'incident acknowledgements are sealed and no data key was given (DATA_KEY_FILE)')
      return value
    }, function opened (incident) { return openIncident(incident, cipher) })
    const parsed = incidentAckRequestSchema.safeParse(opened)
    return parsed.success ? { request: parsed.data } : { request: undefined, problem: parsed.error.issues[0]?.message ?? 'invalid' }
  } catch (err) {
    if (!isGatewayError(err)) throw err
    return { request: undefined, problem: err.message }
  }
}

/** `citygw key rotate`: every request's personal fields sealed with the current key. The number rewritten. */
export async function resealIncidentAckRequests (file: string, cipher: FieldCipher): Promise<number> {
  let count = 0
  const stored = await requestsFile.read(file)
  if (stored.length === 0) return 0
  await requestsFile.update(file, function resealed (requests) {
    count = requests.length
    return requests.map(function reseal (r) {
      return convert(r, function again (field, value) { return cipher.reseal(field, value) }, function incidentAgain (incident) { return resealIncident(incident, cipher) })
    })
  })
  return count
}

/** The requests that open with `cipher` (no key: only clear ones); the others are logged and left out. */
export async function readIncidentAckRequests (file: string, cipher: FieldCipher | undefined, log?: Logger): Promise<IncidentAckRequest[]> {
  const requests: IncidentAckRequest[] = []
  for (const stored of await requestsFile.read(file, log)) {
    const opened = openRequest(stored, cipher)
    if (opened.request !== undefined) requests.push(opened.request)
    else log?.warn({ file, requestId: stored.id, reason: 'not_opened', problem: opened.problem }, 'incident acknowledgement not readable; left out')
  }
  return requests
}

/**
 * Runs `mutate` on the opened requests under the file's lock and writes its result sealed with
 * `cipher`. Requests that do not open (another key) are kept as they are: they are someone else's.
 */
export async function updateIncidentAckRequests (file: string, cipher: FieldCipher | undefined, mutate: (requests: IncidentAckRequest[]) => IncidentAckRequest[], log?: Logger): Promise<IncidentAckRequest[]> {
  let result: IncidentAckRequest[] = []
  await requestsFile.update(file, function sealedAgain (stored) {
    const opened: IncidentAckRequest[] = []
    const kept: StoredAckRequest[] = []
    for (const entry of stored) {
      const outcome = openRequest(entry, cipher)
      if (outcome.request !== undefined) opened.push(outcome.request)
      else kept.push(entry)
    }
    result = mutate(opened)
    return [...result.map(function seal (r) { return sealRequest(r, cipher) }), ...kept]
  }, log)
  return result
}

export interface IncidentAckRequestsOptions {
  file: string
  pollMs: number
  /** Acknowledges as `by` for every district (an operator's view). */
  acknowledge(by: string, incidentId: string, note: string | undefined): Promise<IncidentAckOutcome>
  /** Opens and seals the requests' personal fields. */
  cipher?: FieldCipher | undefined
  log: Logger
}

export interface IncidentAckRequests {
  close(): Promise<void>
}

export function startIncidentAckRequests (options: IncidentAckRequestsOptions): IncidentAckRequests {
  const log = options.log.child({ module: 'incident-acks' })
  /** Request ids applied (or being applied) by this run: each is applied once. */
  const taken = new Set<string>()
  let running: Promise<void> = Promise.resolve()
  let isClosed = false

  async function applyPending (): Promise<void> {
    const requests = await readIncidentAckRequests(options.file, options.cipher, log)
    const done = new Map<string, Pick<IncidentAckRequest, 'outcome' | 'incident'>>()
    for (const request of requests) {
      if (request.outcome !== undefined || taken.has(request.id)) continue
      taken.add(request.id)
      const outcome = await options.acknowledge(request.by, request.incidentId, request.note)
      const result = outcome.ok ? { outcome: 'acknowledged' as const, incident: outcome.incident } : { outcome: outcome.reason === 'closed' ? 'closed' as const : 'not_found' as const }
      log.info({ incidentId: request.incidentId, outcome: result.outcome, requestId: request.id }, 'incident acknowledgement from the CLI applied')
      done.set(request.id, result)
    }
    const nowMs = Date.now()
    const isStale = requests.some(function old (r) { return nowMs - r.requestedAt > REQUEST_TTL_MS })
    if (done.size === 0 && !isStale) return
    await updateIncidentAckRequests(options.file, options.cipher, function withOutcomes (current) {
      return current
        .filter(function fresh (r) { return nowMs - r.requestedAt <= REQUEST_TTL_MS })
        .map(function answered (r) { const result = done.get(r.id); return result === undefined ? r : { ...r, ...result } })
    }, log)
  }

  function check (): void {
    if (isClosed) return
    running = running.then(applyPending).catch(function notApplied (err: unknown) {
      log.error({ err, file: options.file }, 'incident acknowledgements from the CLI not applied')
    })
  }

  const watch = watchFileChanges(options.file, options.pollMs, check)
  check()
  return {
    async close () {
      isClosed = true
      watch.close()
      await running
    },
  }
}
