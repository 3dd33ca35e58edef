// DATA_DIR/incident-acks.json: acknowledgements of incidents asked for by `citygw incident ack` and
// applied by the running gateway, which writes each one's outcome back for the CLI to read (and
// remove). A locked list file like maintenance.json; the gateway polls it every REGISTRY_POLL_MS.
// Each request is applied at most once per gateway run; a request nobody collects is dropped after
// REQUEST_TTL_MS.
import path from 'node:path'
import { z } from 'zod'
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

const requestsFile = lockedListFile({ key: 'requests', entry: incidentAckRequestSchema, what: 'incident acknowledgements', maxBytes: 1024 * 1024 })

export function incidentAcksPath (dataDir: string): string {
  return path.join(dataDir, INCIDENT_ACKS_FILE)
}

export function readIncidentAckRequests (file: string, log?: Logger): Promise<IncidentAckRequest[]> {
  return requestsFile.read(file, log)
}

export function updateIncidentAckRequests (file: string, mutate: (requests: IncidentAckRequest[]) => IncidentAckRequest[], log?: Logger): Promise<IncidentAckRequest[]> {
  return requestsFile.update(file, mutate, log)
}

export interface IncidentAckRequestsOptions {
  file: string
  pollMs: number
  /** Acknowledges as `by` for every district (an operator's view). */
  acknowledge(by: string, incidentId: string, note: string | undefined): Promise<IncidentAckOutcome>
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
    const requests = await readIncidentAckRequests(options.file, log)
    const done = new Map<string, Pick<IncidentAckRequest, 'outcome' | 'incident'>>()
    for (const request of requests) {
      if (request.outcome !== undefined || taken.has(request.id)) continue
      taken.add(request.id)
      const outcome = await options.acknowledge(request.by, request.incidentId, request.note)
      const result = outcome.ok ? { outcome: 'acknowledged' as const, incident: outcome.incident } : { outcome: outcome.reason === 'closed' ? 'closed' as const : 'not_found' as const }
      log.info({ incidentId: request.incidentId, by: request.by, outcome: result.outcome, requestId: request.id }, 'incident acknowledgement from the CLI applied')
      done.set(request.id, result)
    }
    const nowMs = Date.now()
    const isStale = requests.some(function old (r) { return nowMs - r.requestedAt > REQUEST_TTL_MS })
    if (done.size === 0 && !isStale) return
    await updateIncidentAckRequests(options.file, function withOutcomes (current) {
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
