// DATA_DIR/incidents.json: the open incidents (with which members have cleared) and the recently
// closed ones, so that a restart keeps them. Replaced atomically (state.ts's writer: temp file,
// fsync, rename), rewritten at most every OPEN_ALARMS_MIN_INTERVAL_MS; a damaged file stops the start.
// With the data key, who acknowledged (`ackedBy`) is sealed on disk and opened as it is read.
import path from 'node:path'
import { z } from 'zod'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openIncident, openStoredIncident, resealIncident, resealStoredIncident, sealIncident, sealStoredIncident } from '../crypto/sealed-incident.ts'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { incidentSchema, storedIncidentSchema } from './incident-record.ts'
import { replaceFile } from '../replace-file.ts'
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

/** The file as it is on disk: `ackedBy` sealed (or clear, written before encryption). */
async function readStored (file: string): Promise<SavedIncidents | undefined> {
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

/**
 * The saved incidents, `ackedBy` opened with `cipher`; undefined when there are none (a first start).
 * Throws CSG_DATA_KEY_MISSING / CSG_DATA_UNREADABLE for an `ackedBy` that does not open.
 */
export async function readIncidentsFile (file: string, cipher?: FieldCipher): Promise<SavedIncidents | undefined> {
  const stored = await readStored(file)
  if (stored === undefined) return undefined
  return {
    version: 1,
    open: stored.open.map(function open (entry) { return openStoredIncident(entry, cipher) }),
    closed: stored.closed.map(function open (incident) { return openIncident(incident, cipher) }),
  }
}

function sealed (saved: SavedIncidents, cipher: FieldCipher | undefined): SavedIncidents {
  return {
    version: 1,
    open: saved.open.map(function seal (entry) { return sealStoredIncident(entry, cipher) }),
    closed: saved.closed.map(function seal (incident) { return sealIncident(incident, cipher) }),
  }
}

/** `citygw key rotate`: incidents.json with every `ackedBy` sealed with the current key; the incidents rewritten. */
export async function resealIncidentsFile (dataDir: string, cipher: FieldCipher): Promise<number> {
  const file = incidentsPath(dataDir)
  const stored = await readStored(file)
  if (stored === undefined) return 0
  const open = stored.open.map(function reseal (entry) { return resealStoredIncident(entry, cipher) })
  const closed = stored.closed.map(function reseal (incident) { return resealIncident(incident, cipher) })
  await replaceFile(file, JSON.stringify({ version: 1, open, closed }))
  return open.length + closed.length
}

/** incidents.json from `content()` (`ackedBy` sealed with `cipher`), coalesced like alarms.json. */
export function createIncidentsWriter (dataDir: string, content: () => SavedIncidents, log: Logger, cipher?: FieldCipher): StateFileWriter {
  return createStateFileWriter(incidentsPath(dataDir), function incidentsJson () {
    return [JSON.stringify(sealed(content(), cipher))]
  }, log, OPEN_ALARMS_MIN_INTERVAL_MS)
}
