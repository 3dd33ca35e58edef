// DATA_DIR/incidents.json: the open incidents (with which members have cleared) and the recently
// closed ones, so that a restart keeps them. Replaced atomically (state.ts's writer: temp file,
// fsync, rename), rewritten at most every OPEN_ALARMS_MIN_INTERVAL_MS; a damaged file stops the start.
import path from 'node:path'
import { z } from 'zod'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { incidentSchema, storedIncidentSchema } from './incident-record.ts'
import { createStateFileWriter, OPEN_ALARMS_MIN_INTERVAL_MS, readIfExists, type StateFileWriter } from './state.ts'

export const INCIDENTS_FILE = 'incidents.json'

export const savedIncidentsSchema = z.object({
  version: z.literal(1),
  /** Open (or acknowledged) incidents and the ids of their members that have cleared. */
  open: z.array(storedIncidentSchema),
  /** Closed ones, newest first. */
  closed: z.array(incidentSchema),
})
export type SavedIncidents = z.infer<typeof savedIncidentsSchema>

export function incidentsPath (dataDir: string): string {
  return path.join(dataDir, INCIDENTS_FILE)
}

/** The saved incidents; undefined when there are none (a first start). */
export async function readIncidentsFile (file: string): Promise<SavedIncidents | undefined> {
  const text = await readIfExists(file)
  if (text === undefined) return undefined
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new GatewayError('CSG_ALARM_STATE_INVALID', `${file}: ${(err as Error).message}`)
  }
  const parsed = savedIncidentsSchema.safeParse(data)
  if (!parsed.success) throw new GatewayError('CSG_ALARM_STATE_INVALID', `${file}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  return parsed.data
}

/** incidents.json from `content()`, coalesced like alarms.json. */
export function createIncidentsWriter (dataDir: string, content: () => SavedIncidents, log: Logger): StateFileWriter {
  return createStateFileWriter(incidentsPath(dataDir), function incidentsJson () {
    return [JSON.stringify(content())]
  }, log, OPEN_ALARMS_MIN_INTERVAL_MS)
}
