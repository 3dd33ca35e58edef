// DATA_DIR/maintenance.json: the single-node maintenance windows on disk. Changed only under
// maintenance.json.lock (the gateway's API and the CLI both write it), replaced atomically, mode
// 0600. An entry that does not validate is dropped with a warning; a file that is not JSON counts as
// empty (no window: alarms go out as usual rather than the gateway not starting).
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { acquireLockFile } from '../lock-file.ts'
import type { Logger } from '../log.ts'
import { replaceFile } from '../replace-file.ts'
import { maintenanceWindowSchema, type MaintenanceWindow } from './window.ts'

export const MAINTENANCE_FILE_NAME = 'maintenance.json'
const LOCK_WAIT_MS = 10_000
/** Largest file read: far more windows than a city plans. */
const MAX_FILE_BYTES = 4 * 1024 * 1024

const fileSchema = z.object({ version: z.literal(1), windows: z.array(z.unknown()) })

export function maintenancePath (dataDir: string): string {
  return path.join(dataDir, MAINTENANCE_FILE_NAME)
}

/** The valid windows of the file; none when it is missing. */
export async function readMaintenanceFile (file: string, log?: Logger): Promise<MaintenanceWindow[]> {
  let text: string
  try {
    const stat = await fs.stat(file)
    if (stat.size > MAX_FILE_BYTES) {
      log?.error({ file, bytes: stat.size, maxBytes: MAX_FILE_BYTES, reason: 'too_large' }, 'maintenance file ignored')
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
    log?.error({ file, reason: 'not_json' }, 'maintenance file ignored')
    return []
  }
  const parsed = fileSchema.safeParse(data)
  if (!parsed.success) {
    log?.error({ file, reason: 'invalid', problem: parsed.error.issues[0]?.message }, 'maintenance file ignored')
    return []
  }
  const windows: MaintenanceWindow[] = []
  for (const entry of parsed.data.windows) {
    const window = maintenanceWindowSchema.safeParse(entry)
    if (window.success) windows.push(window.data)
    else log?.warn({ file, reason: 'invalid_entry', problem: window.error.issues[0]?.message }, 'maintenance file: invalid entry dropped')
  }
  return windows
}

/** Runs `mutate` on the file's windows while holding the lock, writes what it returns and returns that. */
export async function updateMaintenanceFile (file: string, mutate: (windows: MaintenanceWindow[]) => MaintenanceWindow[], log?: Logger): Promise<MaintenanceWindow[]> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  const release = await acquireLockFile(`${file}.lock`, LOCK_WAIT_MS)
  if (release === undefined) throw new Error(`maintenance windows are locked by another process (${file}.lock)`)
  try {
    const windows = mutate(await readMaintenanceFile(file, log))
    await replaceFile(file, `${JSON.stringify({ version: 1, windows }, null, 1)}\n`)
    return windows
  } finally {
    await release()
  }
}
