// DATA_DIR/sessions.json: the single-node session store on disk, a locked list file (the gateway
// and the CLI both write it); a damaged file signs people out instead of stopping the start.
import path from 'node:path'
import { lockedListFile } from '../locked-list-file.ts'
import type { Logger } from '../log.ts'
import { sessionRecordSchema, type SessionRecord } from './record.ts'

export const SESSIONS_FILE_NAME = 'sessions.json'

export function sessionsPath (dataDir: string): string {
  return path.join(dataDir, SESSIONS_FILE_NAME)
}

// Largest file read: the maximum session count of records with room to spare.
const sessionsFile = lockedListFile({ key: 'sessions', entry: sessionRecordSchema, what: 'sessions', maxBytes: 32 * 1024 * 1024 })

/** The valid records of the file; none when it is missing. */
export function readSessionsFile (file: string, log?: Logger): Promise<SessionRecord[]> {
  return sessionsFile.read(file, log)
}

/** Runs `mutate` on the file's records while holding the lock and writes what it returns; returns the records written. */
export function updateSessionsFile (file: string, mutate: (records: SessionRecord[]) => SessionRecord[], log?: Logger): Promise<SessionRecord[]> {
  return sessionsFile.update(file, mutate, log)
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
