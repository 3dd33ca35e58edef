// Maintenance windows ↔ their stored form (DATA_DIR/maintenance.json, the cluster's maintenance
// bucket): who added it (`createdBy`) and who ended it (`endedBy`) sealed with the data key, the
// rest as it is. Clear names written before encryption read as they are.
import { z } from 'zod'
import { GatewayError, isGatewayError } from '../errors.ts'
import { maintenanceWindowSchema, type MaintenanceWindow } from '../maintenance/window.ts'
import { isSealed, type FieldCipher } from './field-cipher.ts'

const sealedName = z.string().min(1).max(2048)

/** A stored window: its names clear (older files) or sealed. Checked again once opened. */
export const storedWindowSchema = z.object({
  ...maintenanceWindowSchema.shape,
  createdBy: sealedName,
  endedBy: sealedName.optional(),
})
export type StoredWindow = z.infer<typeof storedWindowSchema>

function convert<T extends { createdBy: string; endedBy?: string | undefined }> (window: T, fn: (value: string) => string): T {
  const out = { ...window, createdBy: fn(window.createdBy) }
  if (window.endedBy !== undefined) out.endedBy = fn(window.endedBy)
  return out
}

export function sealWindow (window: MaintenanceWindow, cipher: FieldCipher | undefined): StoredWindow {
  return cipher === undefined ? window : convert(window, function seal (value) { return cipher.seal('maintenanceBy', value) })
}

/**
 * The window of a stored one, or a problem (an altered name, or not a valid window once opened).
 * Throws CSG_DATA_KEY_MISSING for a name sealed with a key not held, or when there is no key.
 */
export function openWindow (stored: StoredWindow, cipher: FieldCipher | undefined): { window: MaintenanceWindow } | { window: undefined; problem: string } {
  let opened: StoredWindow
  try {
    opened = convert(stored, function open (value) {
      if (!isSealed(value)) return value
      if (cipher === undefined) throw new GatewayError('CSG_DATA_KEY_MISSING', 'maintenance windows are sealed and no data key was given (DATA_KEY_FILE)')
      return cipher.open('maintenanceBy', value)
    })
  } catch (err) {
    if (isGatewayError(err, 'CSG_DATA_KEY_MISSING')) throw err
    return { window: undefined, problem: (err as Error).message }
  }
  const parsed = maintenanceWindowSchema.safeParse(opened)
  return parsed.success ? { window: parsed.data } : { window: undefined, problem: parsed.error.issues[0]?.message ?? 'invalid' }
}

export function resealWindow (stored: StoredWindow, cipher: FieldCipher): StoredWindow {
  return convert(stored, function reseal (value) { return cipher.reseal('maintenanceBy', value) })
}
