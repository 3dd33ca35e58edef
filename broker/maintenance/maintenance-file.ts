// DATA_DIR/maintenance.json: the single-node maintenance windows on disk, a locked list file (the
// gateway's API and the CLI both write it); a damaged file counts as no window, so alarms go out as
// usual rather than the gateway not starting. Who added or ended a window is sealed with the data key.
import path from 'node:path'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openWindow, sealWindow, storedWindowSchema, type StoredWindow } from '../crypto/sealed-window.ts'
import { lockedListFile } from '../locked-list-file.ts'
import type { Logger } from '../log.ts'
import type { MaintenanceWindow } from './window.ts'

export const MAINTENANCE_FILE_NAME = 'maintenance.json'

export function maintenancePath (dataDir: string): string {
  return path.join(dataDir, MAINTENANCE_FILE_NAME)
}

// Largest file read: far more windows than a city plans.
const maintenanceFile = lockedListFile({ key: 'windows', entry: storedWindowSchema, what: 'maintenance windows', maxBytes: 4 * 1024 * 1024, indent: 1 })

function openAll (file: string, stored: StoredWindow[], cipher: FieldCipher | undefined, log: Logger | undefined): MaintenanceWindow[] {
  const windows: MaintenanceWindow[] = []
  for (const entry of stored) {
    const opened = openWindow(entry, cipher)
    if (opened.window !== undefined) windows.push(opened.window)
    else log?.warn({ file, reason: 'invalid_entry', problem: opened.problem }, 'maintenance windows file: invalid entry dropped')
  }
  return windows
}

/** The valid windows of the file; none when it is missing. */
export async function readMaintenanceFile (file: string, log?: Logger, cipher?: FieldCipher): Promise<MaintenanceWindow[]> {
  return openAll(file, await maintenanceFile.read(file, log), cipher, log)
}

/** Runs `mutate` on the file's windows while holding the lock, writes what it returns (names sealed) and returns that. */
export async function updateMaintenanceFile (file: string, mutate: (windows: MaintenanceWindow[]) => MaintenanceWindow[], log?: Logger, cipher?: FieldCipher): Promise<MaintenanceWindow[]> {
  let written: MaintenanceWindow[] = []
  await maintenanceFile.update(file, function sealedMutate (stored) {
    written = mutate(openAll(file, stored, cipher, log))
    return written.map(function seal (window) { return sealWindow(window, cipher) })
  }, log)
  return written
}

/** Every stored window resealed with the current key (rotate); returns how many were written. */
export async function resealMaintenanceFile (file: string, reseal: (stored: StoredWindow) => StoredWindow, log?: Logger): Promise<number> {
  return (await maintenanceFile.update(file, function resealAll (stored) { return stored.map(reseal) }, log)).length
}
