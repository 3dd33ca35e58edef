// DATA_DIR/sessions.json: the single-node session store on disk, a locked list file (the gateway
// and the CLI both write it); a damaged file signs people out instead of stopping the start.
// Account names are sealed with the data key on disk (crypto/sealed-session.ts).
import path from 'node:path'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openSession, sealSession, storedSessionSchema, type StoredSession } from '../crypto/sealed-session.ts'
import { lockedListFile } from '../locked-list-file.ts'
import type { Logger } from '../log.ts'
import type { SessionRecord } from './record.ts'

export const SESSIONS_FILE_NAME = 'sessions.json'

export function sessionsPath (dataDir: string): string {
  return path.join(dataDir, SESSIONS_FILE_NAME)
}

// Largest file read: the maximum session count of records with room to spare.
const sessionsFile = lockedListFile({ key: 'sessions', entry: storedSessionSchema, what: 'sessions', maxBytes: 32 * 1024 * 1024 })

function openAll (file: string, stored: StoredSession[], cipher: FieldCipher | undefined, log: Logger | undefined): SessionRecord[] {
  const records: SessionRecord[] = []
  for (const entry of stored) {
    const opened = openSession(entry, cipher)
    if (opened.record !== undefined) records.push(opened.record)
    else log?.warn({ file, reason: 'invalid_entry', problem: opened.problem }, 'sessions file: invalid entry dropped')
  }
  return records
}

/** The valid records of the file; none when it is missing. */
export async function readSessionsFile (file: string, log?: Logger, cipher?: FieldCipher): Promise<SessionRecord[]> {
  return openAll(file, await sessionsFile.read(file, log), cipher, log)
}

/** Runs `mutate` on the file's records while holding the lock and writes what it returns (names sealed); returns the records written. */
export async function updateSessionsFile (file: string, mutate: (records: SessionRecord[]) => SessionRecord[], log?: Logger, cipher?: FieldCipher): Promise<SessionRecord[]> {
  let written: SessionRecord[] = []
  await sessionsFile.update(file, function sealedMutate (stored) {
    written = mutate(openAll(file, stored, cipher, log))
    return written.map(function seal (record) { return sealSession(record, cipher) })
  }, log)
  return written
}

/** Every stored record resealed with the current key (rotate); returns how many were written. */
export async function resealSessionsFile (file: string, reseal: (stored: StoredSession) => StoredSession, log?: Logger): Promise<number> {
  const written = await sessionsFile.update(file, function resealAll (stored) { return stored.map(reseal) }, log)
  return written.length
}

/** The stored sessions as the CLI sees them: DATA_DIR/sessions.json or the cluster's bucket. */
export interface SessionAdmin {
  /** Where the sessions are, for messages. */
  readonly describe: string
  list(): Promise<SessionRecord[]>
  /** Removes the records `select` picks; returns them. */
  remove(select: (record: SessionRecord) => boolean): Promise<SessionRecord[]>
}

export function fileSessionAdmin (file: string, log?: Logger, cipher?: FieldCipher): SessionAdmin {
  return {
    describe: file,
    list () { return readSessionsFile(file, log, cipher) },
    async remove (select) {
      const chosen: SessionRecord[] = []
      await updateSessionsFile(file, function dropSelected (records) {
        return records.filter(function keep (record) {
          if (!select(record)) return true
          chosen.push(record)
          return false
        })
      }, log, cipher)
      return chosen
    },
  }
}
