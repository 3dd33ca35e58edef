// One stored sign-in: a browser session (cookie citygw_session) or a trusted-device token (cookie
// citygw_device). The token itself is never stored, only its SHA-256; neither is the account's
// secret hash, only a short fingerprint of it, so a changed secret or a removed account no longer
// matches and the session ends. The same record lives in DATA_DIR/sessions.json and in the
// cluster's session bucket.
import { createHash, randomBytes } from 'node:crypto'
import { z } from 'zod'
import { newCliSafeId } from '../random-id.ts'
import { idSchema } from '../registry/schema.ts'

/** Longest user-agent label kept. */
export const USER_AGENT_MAX = 120

export const sessionIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16}$/)

export const sessionRecordSchema = z.object({
  /** Public id (random, unrelated to the token): what lists show and revocation names. */
  id: sessionIdSchema,
  tokenHash: z.string().regex(/^[0-9a-f]{64}$/),
  name: idSchema,
  role: z.enum(['crew', 'operator']),
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  createdAt: z.number().int().nonnegative(),
  expiresAt: z.number().int().nonnegative(),
  lastUsedAt: z.number().int().nonnegative(),
  userAgent: z.string().max(USER_AGENT_MAX),
  /** A trusted-device token (signs in again without the secret) rather than a session. */
  device: z.boolean(),
})

export type SessionRecord = z.infer<typeof sessionRecordSchema>

const TOKEN_BYTES = 32 // 256 bits
const ID_BYTES = 12 // 16 base64url characters

export function newToken (): string {
  return randomBytes(TOKEN_BYTES).toString('base64url')
}

export function newSessionId (): string {
  return newCliSafeId(ID_BYTES)
}

export function hashToken (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** First 16 hex digits of sha256(secretHash): tells a changed secret apart without storing the hash. */
export function secretFingerprint (secretHash: string): string {
  return createHash('sha256').update(secretHash).digest('hex').slice(0, 16)
}

/** A User-Agent header cut to a label that fits a list line. */
export function userAgentLabel (header: string | undefined): string {
  return (header ?? '').replace(/\p{Cc}/gu, ' ').trim().slice(0, USER_AGENT_MAX)
}

/** The record that was used longest ago, to make room when the store is full. */
export function leastRecentlyUsed (records: Iterable<SessionRecord>): SessionRecord | undefined {
  let oldest: SessionRecord | undefined
  for (const record of records) if (oldest === undefined || record.lastUsedAt < oldest.lastUsedAt) oldest = record
  return oldest
}

/** A record as people and scripts see it (API and CLI): never the token hash or the secret fingerprint. */
export function publicView (record: SessionRecord) {
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    kind: record.device ? 'device' as const : 'session' as const,
    createdAt: new Date(record.createdAt).toISOString(),
    lastUsedAt: new Date(record.lastUsedAt).toISOString(),
    expiresAt: new Date(record.expiresAt).toISOString(),
    userAgent: record.userAgent,
  }
}

export type SessionView = ReturnType<typeof publicView>
