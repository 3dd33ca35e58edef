// Who is calling the HTTP API: a session cookie (POST /api/session) or HTTP Basic, checked against
// the registry's crews and operators on every request, so a removed account or a changed secret
// ends its sessions at once. Sessions are random 256-bit tokens held in memory with an expiry.
import { randomBytes } from 'node:crypto'
import type { Registry } from '../registry/registry.ts'
import { verifySecret } from '../registry/secrets.ts'

export interface Principal {
  readonly name: string
  readonly role: 'crew' | 'operator'
  /** Districts the caller may see; undefined = every district (operators, crews without districts). */
  readonly districts: readonly string[] | undefined
}

export interface AuthOptions {
  registry: Registry
  /** Session lifetime, ms (a shift). */
  sessionTtlMs: number
  /** Most sessions kept at once; the oldest is dropped beyond it (memory stays bounded). */
  maxSessions: number
  now?: () => number
}

export interface Auth {
  /** Checks a name and secret against crews and operators; undefined when they do not match. */
  verify(name: string, secret: string): Principal | undefined
  /** Whether a name is a crew or operator. */
  hasAccount(name: string): boolean
  createSession(principal: Principal): { token: string; expiresAtMs: number }
  /** The principal of a live session token, re-checked against the registry. */
  fromSession(token: string): Principal | undefined
  /** The principal of an `Authorization: Basic …` header value (not counted as a sign-in attempt). */
  fromBasic(header: string): Principal | undefined
  endSession(token: string): void
  sessionCount(): number
}

interface Session { name: string; secretHash: string; expiresAtMs: number }

const TOKEN_BYTES = 32 // 256 bits

export function createAuth (options: AuthOptions): Auth {
  const now = options.now ?? Date.now
  const { maxSessions } = options
  const sessions = new Map<string, Session>()

  /** The current account behind a name: its hash and what it may see. */
  function account (name: string): { principal: Principal; secretHash: string } | undefined {
    const crew = options.registry.getCrew(name)
    if (crew !== undefined) return { principal: { name, role: 'crew', districts: crew.districts }, secretHash: crew.secretHash }
    const operator = options.registry.getOperator(name)
    if (operator !== undefined) return { principal: { name, role: 'operator', districts: undefined }, secretHash: operator.secretHash }
    return undefined
  }

  function verify (name: string, secret: string): Principal | undefined {
    const found = account(name)
    if (found === undefined || !verifySecret(secret, found.secretHash)) return undefined
    return found.principal
  }

  return {
    verify,
    hasAccount (name) { return account(name) !== undefined },
    createSession (principal) {
      const found = account(principal.name)
      if (found === undefined) throw new Error(`no account ${principal.name}`)
      if (sessions.size >= maxSessions) {
        const oldest = sessions.keys().next()
        if (oldest.done !== true) sessions.delete(oldest.value)
      }
      const token = randomBytes(TOKEN_BYTES).toString('base64url')
      const expiresAtMs = now() + options.sessionTtlMs
      sessions.set(token, { name: principal.name, secretHash: found.secretHash, expiresAtMs })
      return { token, expiresAtMs }
    },
    fromSession (token) {
      const session = sessions.get(token)
      if (session === undefined) return undefined
      const found = account(session.name)
      // Expired, removed, or its secret was replaced: the session ends.
      if (session.expiresAtMs <= now() || found === undefined || found.secretHash !== session.secretHash) {
        sessions.delete(token)
        return undefined
      }
      return found.principal
    },
    fromBasic (header) {
      const credentials = parseBasic(header)
      return credentials === undefined ? undefined : verify(credentials.name, credentials.secret)
    },
    endSession (token) { sessions.delete(token) },
    sessionCount () { return sessions.size },
  }
}

/** Name and secret of an `Authorization: Basic …` header value; undefined when it is not one. */
export function parseBasic (header: string): { name: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (match?.[1] === undefined) return undefined
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) return undefined
  return { name: decoded.slice(0, colon), secret: decoded.slice(colon + 1) }
}

/** Whether a principal may see a district. */
export function canSee (principal: Principal, district: string): boolean {
  return principal.districts === undefined || principal.districts.includes(district)
}
