// Session records ↔ their stored form (DATA_DIR/sessions.json, the cluster's session bucket): the
// account name sealed with the data key, every other field as it is. A stored name in clear (written
// before encryption) reads as it is and is sealed on the record's next write.
import { z } from 'zod'
import { GatewayError, isGatewayError } from '../errors.ts'
import { idSchema } from '../registry/schema.ts'
import { sessionRecordSchema, type SessionRecord } from '../sessions/record.ts'
import { isSealed, type FieldCipher } from './field-cipher.ts'

/** A stored record: its name clear (older files) or sealed. */
export const storedSessionSchema = sessionRecordSchema.extend({ name: z.string().min(1).max(2048) })
export type StoredSession = z.infer<typeof storedSessionSchema>

export function sealSession (record: SessionRecord, cipher: FieldCipher | undefined): StoredSession {
  return cipher === undefined ? record : { ...record, name: cipher.seal('sessionName', record.name) }
}

/**
 * The record of a stored one, or a problem for one whose name does not open (altered) or is not a
 * valid name. Throws CSG_DATA_KEY_MISSING when the name is sealed with a key not held (or there is no
 * key at all): that is not one bad record but the wrong key file.
 */
export function openSession (stored: StoredSession, cipher: FieldCipher | undefined): { record: SessionRecord } | { record: undefined; problem: string } {
  let name = stored.name
  if (isSealed(name)) {
    if (cipher === undefined) throw new GatewayError('CSG_DATA_KEY_MISSING', 'session names are sealed and no data key was given (DATA_KEY_FILE)')
    try {
      name = cipher.open('sessionName', name)
    } catch (err) {
      if (isGatewayError(err, 'CSG_DATA_KEY_MISSING')) throw err
      return { record: undefined, problem: (err as Error).message }
    }
  }
  if (!idSchema.safeParse(name).success) return { record: undefined, problem: 'name is not a valid account name' }
  return { record: { ...stored, name } }
}

/** The stored record with its name sealed with the current key, whatever sealed it before (rotate). */
export function resealSession (stored: StoredSession, cipher: FieldCipher): StoredSession {
  return { ...stored, name: cipher.reseal('sessionName', stored.name) }
}
