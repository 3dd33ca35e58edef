// DATA_DIR/maintenance.json: the single-node maintenance windows on disk, a locked list file (the
// gateway's API and the CLI both write it); a damaged file counts as no window, so alarms go out as
// usual rather than the gateway not starting.
import path from 'node:path'
import { lockedListFile } from '../locked-list-file.ts'
import type { Logger } from '../log.ts'
import { maintenanceWindowSchema, type MaintenanceWindow } from './window.ts'

export const MAINTENANCE_FILE_NAME = 'maintenance.json'

export function maintenancePath (dataDir: string): string {
  return path.join(dataDir, MAINTENANCE_FILE_NAME)
}

// Largest file read: far more windows than a city plans.
const maintenanceFile = lockedListFile({ key: 'windows', entry: maintenanceWindowSchema, what: 'maintenance windows', maxBytes: 4 * 1024 * 1024, indent: 1 })

/** The valid windows of the file; none when it is missing. */
export function readMaintenanceFile (file: string, log?: Logger): Promise<MaintenanceWindow[]> {
  return maintenanceFile.read(file, log)
}

/** Runs `mutate` on the file's windows while holding the lock, writes what it returns and returns that. */
export function updateMaintenanceFile (file: string, mutate: (windows: MaintenanceWindow[]) => MaintenanceWindow[], log?: Logger): Promise<MaintenanceWindow[]> {
  return maintenanceFile.update(file, mutate, log)
}
