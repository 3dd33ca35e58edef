// Personal-data fields ↔ `enc1:<keyId>:<base64url(iv|tag|ciphertext)>` (AES-256-GCM). The field name
// and key id are authenticated with each value: an altered or moved ciphertext does not open. A value
// without the `enc1:` prefix is clear text written before encryption and reads as it is.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { GatewayError } from '../errors.ts'
import type { KeyFile } from './key-file.ts'

export const SEALED_PREFIX = 'enc1:'
const IV_BYTES = 12
const TAG_BYTES = 16
const SEALED_PATTERN = /^enc1:([A-Za-z0-9_-]{1,64}):([A-Za-z0-9_-]+)$/

/** Which personal-data field a value is: part of what is authenticated. */
export type SealedField = 'ackedBy' | 'ackNote' | 'sessionName' | 'mail' | 'maintenanceBy'

export interface FieldCipher {
  /** The key new values are sealed with. */
  readonly currentKeyId: string
  hasKey(keyId: string): boolean
  /** `value` sealed with the current key; an already sealed value is returned as it is. */
  seal(field: SealedField, value: string): string
  /** The clear text of a sealed value, or the value itself when it is clear text. Throws CSG_DATA_KEY_MISSING / CSG_DATA_UNREADABLE. */
  open(field: SealedField, value: string): string
  /** `value` sealed with the current key, whatever it was sealed with before (rotate). */
  reseal(field: SealedField, value: string): string
}

export function isSealed (value: string): boolean {
  return value.startsWith(SEALED_PREFIX)
}

/** The key id a sealed value names; undefined for clear text or a malformed value. */
export function keyIdOf (value: string): string | undefined {
  return SEALED_PATTERN.exec(value)?.[1]
}

function aadOf (field: SealedField, keyId: string): Buffer {
  return Buffer.from(`citygw/enc1/${field}/${keyId}`, 'utf8')
}

export function createFieldCipher (keyFile: KeyFile): FieldCipher {
  const keys = new Map(keyFile.keys.map(function toBuffer (k) { return [k.id, Buffer.from(k.key, 'base64')] as const }))
  const currentKeyId = keyFile.current
  const currentKey = keys.get(currentKeyId) as Buffer

  function seal (field: SealedField, value: string): string {
    if (isSealed(value)) return value
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', currentKey, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(aadOf(field, currentKeyId))
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()])
    return `${SEALED_PREFIX}${currentKeyId}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`
  }

  function open (field: SealedField, value: string): string {
    if (!isSealed(value)) return value
    const match = SEALED_PATTERN.exec(value)
    if (match === null) throw new GatewayError('CSG_DATA_UNREADABLE', `a sealed ${field} value is malformed`)
    const keyId = match[1] as string
    const key = keys.get(keyId)
    if (key === undefined) throw new GatewayError('CSG_DATA_KEY_MISSING', `a ${field} value is sealed with key ${keyId}, which the data key file does not hold`)
    const raw = Buffer.from(match[2] as string, 'base64url')
    if (raw.length < IV_BYTES + TAG_BYTES) throw new GatewayError('CSG_DATA_UNREADABLE', `a sealed ${field} value is too short`)
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
      decipher.setAAD(aadOf(field, keyId))
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch (err) {
      throw new GatewayError('CSG_DATA_UNREADABLE', `a sealed ${field} value (key ${keyId}) failed authentication: altered, or not a ${field}`, { cause: err })
    }
  }

  return {
    currentKeyId,
    hasKey (keyId) { return keys.has(keyId) },
    seal,
    open,
    reseal (field, value) {
      if (isSealed(value) && keyIdOf(value) === currentKeyId) return value
      return seal(field, open(field, value))
    },
  }
}
