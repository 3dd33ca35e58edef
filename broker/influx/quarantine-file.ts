// Enters: lines InfluxDB refused, with the reason. Leaves: one JSON object per line appended to a
// file (mode 0600: lines may name devices and places). Guarantees: add resolves after fdatasync.
import { open } from 'node:fs/promises'
import type { Quarantine, QuarantineEntry } from './quarantine.ts'

/** The quarantine of a single gateway, e.g. `${DATA_DIR}/quarantine.jsonl`. */
export function createFileQuarantine (path: string): Quarantine {
  return {
    async add (entry: QuarantineEntry): Promise<void> {
      const file = await open(path, 'a', 0o600)
      try {
        await file.appendFile(`${JSON.stringify(entry)}\n`)
        await file.datasync()
      } finally {
        await file.close()
      }
    },
  }
}
