// Generated secrets and their stored form: `s256$<salt>$<HMAC-SHA256(salt, secret)>`.
// Secrets carry ≥128 random bits, so a fast keyed hash is enough (README "Provisioning") and
// keeps a reconnect storm of 20,000 devices cheap; comparison is constant-time.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

const SECRET_BYTES = 24 // 192 bits
const SALT_BYTES = 16
const SCHEME = 's256'

export function generateSecret (): string {
  return randomBytes(SECRET_BYTES).toString('base64url')
}

export function hashSecret (secret: string, salt: Buffer = randomBytes(SALT_BYTES)): string {
  const digest = createHmac('sha256', salt).update(secret, 'utf8').digest()
  return `${SCHEME}$${salt.toString('base64url')}$${digest.toString('base64url')}`
}

/** True when `secret` matches the stored hash; false for a malformed hash, never throws. */
export function verifySecret (secret: string | Buffer, storedHash: string): boolean {
  const [scheme, saltText, digestText] = storedHash.split('$')
  if (scheme !== SCHEME || saltText === undefined || digestText === undefined) return false
  const expected = Buffer.from(digestText, 'base64url')
  const actual = createHmac('sha256', Buffer.from(saltText, 'base64url')).update(secret).digest()
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}
