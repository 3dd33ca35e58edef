// DATA_DIR/sessions.json: the single-node session store on disk. Changed only under
// sessions.json.lock (the gateway and the CLI both write it), replaced atomically (temp file,
// fsync, rename), mode 0600. An entry that does not validate is dropped with a warning; a file that
// is not JSON at all counts as empty, so a damaged file signs people out instead of stopping the start.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { acquireLockFile } from '../lock-file.ts'
import type { Logger } from '../log.ts'
import { sessionRecordSchema, type SessionRecord } from './record.ts'
import { replaceFile } from '../replace-file.ts'

export const SESSIONS_FILE_NAME = 'sessions.json'
const LOCK_WAIT_MS = 10_000
/** Largest file read: the maximum session count of records with room to spare. */
const MAX_FILE_BYTES = 32 * 1024 * 1024

const fileSchema = z.object({ version: z.literal(1), sessions: z.array(z.unknown()) })

export function sessionsPath (dataDir: string): string {
  return path.join(dataDir, SESSIONS_FILE_NAME)
}

/** The valid records of the file; none when it is missing. */
export async function readSessionsFile (file: string, log?: Logger): Promise<SessionRecord[]> {
  let text: string
  try {
    const stat = await fs.stat(file)
    if (stat.size > MAX_FILE_BYTES) {
      log?.error({ file, bytes: stat.size, maxBytes: MAX_FILE_BYTES, reason: 'too_large' }, 'sessions file ignored')
      return []
    }
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    log?.error({ file, reason: 'not_json' }, 'sessions file ignored')
    return []
  }
  const parsed = fileSchema.safeParse(data)
  if (!parsed.success) {
    log?.error({ file, reason: 'invalid', problem: parsed.error.issues[0]?.message }, 'sessions file ignored')
    return []
  }
  const records: SessionRecord[] = []
  for (const entry of parsed.data.sessions) {
    const record = sessionRecordSchema.safeParse(entry)
    if (record.success) records.push(record.data)
    else log?.warn({ file, reason: 'invalid_entry', problem: record.error.issues[0]?.message }, 'sessions file: invalid entry dropped')
  }
  return records
}

/**
 * Runs `mutate` on the file's records while holding the lock and writes what it returns.
 * Returns the records written.
 */
export async function updateSessionsFile (file: string, mutate: (records: SessionRecord[]) => SessionRecord[], log?: Logger): Promise<SessionRecord[]> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  const release = await acquireLockFile(`${file}.lock`, LOCK_WAIT_MS)
  if (release === undefined) throw new Error(`sessions are locked by another process (${file}.lock)`)
  try {
    const records = mutate(await readSessionsFile(file, log))
    await replaceFile(file, `${JSON.stringify({ version: 1, sessions: records })}\n`)
    return records
  } finally {
    await release()
  }
}

/** The stored sessions as the CLI sees them: DATA_DIR/sessions.json or the cluster's bucket. */
export interface SessionAdmin {
  /** Where the sessions are, for messages. */
  readonly describe: string
  list(): Promise<SessionRecord[]>
  /** Removes the records `select` picks; returns them. */
  remove(select: (record: SessionRecord) => boolean): Promise<SessionRecord[]>
}

export function fileSessionAdmin (file: string, log?: Logger): SessionAdmin {
  return {
    describe: file,
    list () { return readSessionsFile(file, log) },
    async remove (select) {
      const chosen: SessionRecord[] = []
      await updateSessionsFile(file, function dropSelected (records) {
        return records.filter(function keep (record) {
          if (!select(record)) return true
          chosen.push(record)
          return false
        })
      }, log)
      return chosen
    },
  }
}
