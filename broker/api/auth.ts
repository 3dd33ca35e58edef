// Who is calling the HTTP API: a session cookie (POST /api/session), a trusted-device cookie (only
// to start a new session), or HTTP Basic, checked against the registry's crews and operators on
// every request. Sessions are random 256-bit tokens kept in a SessionStore (sessions.json, or the
// cluster's bucket) by their hash, so they survive a restart. Each record holds a fingerprint of the
// account's secret hash: a removed account, a changed role or a replaced secret ends its sessions
// and device tokens at once.
import type { FastifyBaseLogger } from 'fastify'
import { consumerNameOfToken } from '../consumers/provision.ts'
import type { ConsumerScope } from '../consumers/scope.ts'
import type { Registry } from '../registry/registry.ts'
import { verifySecret } from '../registry/secrets.ts'
import { hashToken, newSessionId, newToken, secretFingerprint, type SessionRecord } from '../sessions/record.ts'
import type { SessionStore } from '../sessions/store.ts'

export interface Principal {
  readonly name: string
  /** Consumers come only by Bearer token, and only to the routes of consumer-routes.ts. */
  readonly role: 'crew' | 'operator' | 'consumer'
  /** Districts the caller may see; undefined = every district (operators, crews without districts). */
  readonly districts: readonly string[] | undefined
  /** A consumer's scope (request-scope.ts derives one for crews and operators). */
  readonly scope?: ConsumerScope
}

export interface AuthOptions {
  registry: Registry
  store: SessionStore
  /** Session lifetime, ms (a shift). */
  sessionTtlMs: number
  /** Trusted-device token lifetime, ms. */
  deviceTtlMs: number
  log: FastifyBaseLogger
  now?: () => number
}

/** A live session or device token and whose it is. */
export interface LiveSession {
  readonly principal: Principal
  readonly record: SessionRecord
}

export interface Auth {
  /** Checks a name and secret against crews and operators; undefined when they do not match. */
  verify(name: string, secret: string): Principal | undefined
  /** Whether a name is a crew or operator. */
  hasAccount(name: string): boolean
  /** Starts a session, or with `device` a trusted-device token; resolves once it is stored. */
  createSession(principal: Principal, options: { device: boolean; userAgent: string }): Promise<{ token: string; record: SessionRecord }>
  /** The principal of a live session token, re-checked against the registry. */
  fromSession(token: string): Principal | undefined
  /** A live session (`device` false) or device token (`device` true) and its principal. */
  live(token: string, device: boolean): LiveSession | undefined
  /** The stored record of a token, live or not (names the account of a refused device token). */
  recordOf(token: string): SessionRecord | undefined
  /** The principal of an `Authorization: Basic …` header value (not counted as a sign-in attempt). */
  fromBasic(header: string): Principal | undefined
  /**
   * The consumer of an `Authorization: Bearer …` header value, checked against the registry on
   * every request (a removed consumer or a replaced token is refused at once); undefined when none.
   */
  fromBearer(header: string): Principal | undefined
  /** Ends the session or device token a token belongs to. */
  endSession(token: string): Promise<void>
  /** Live sessions and device tokens. */
  list(): SessionRecord[]
  /** Ends sessions and device tokens by id; resolves with those that were there. */
  revoke(ids: readonly string[]): Promise<SessionRecord[]>
  /** Called with sessions that ended, whoever ended them (sign-out, revocation here or elsewhere, expiry). */
  onEnded(listener: (records: readonly SessionRecord[]) => void): void
  sessionCount(): number
  /** Stops the sweep of expired sessions. */
  close(): void
}

/** A session's last-used time is stored at most this often. */
const TOUCH_INTERVAL_MS = 60_000
/** How often expired sessions and those of changed accounts are removed from the store. */
const SWEEP_INTERVAL_MS = 60_000

export function createAuth (options: AuthOptions): Auth {
  const now = options.now ?? Date.now
  const { store, log } = options
  /** Ids this gateway is removing: their removal is logged where it is made. */
  const endingHere = new Set<string>()

  /** The current account behind a name: its hash and what it may see. */
  function account (name: string): { principal: Principal & { role: 'crew' | 'operator' }; secretHash: string } | undefined {
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

  /** Why a record no longer signs anyone in; undefined while it is live. */
  function endReason (record: SessionRecord, nowMs: number): string | undefined {
    if (record.expiresAt <= nowMs) return 'expired'
    const found = account(record.name)
    if (found === undefined) return 'account_removed'
    if (found.principal.role !== record.role || secretFingerprint(found.secretHash) !== record.fingerprint) return 'secret_changed'
    return undefined
  }

  function remove (records: readonly SessionRecord[], reason: string): Promise<SessionRecord[]> {
    if (records.length === 0) return Promise.resolve([])
    for (const record of records) {
      endingHere.add(record.id)
      log.info({ name: record.name, sessionId: record.id, device: record.device, reason }, reason === 'revoked' ? 'session revoked' : 'session ended')
    }
    return store.remove(records.map(function idOf (r) { return r.id })).then(function removed () { return [...records] }).finally(function forget () {
      for (const record of records) endingHere.delete(record.id)
    })
  }

  store.onRemoved(function logRemovedElsewhere (records) {
    const nowMs = now()
    for (const record of records) {
      if (endingHere.delete(record.id)) continue
      const fields = { name: record.name, sessionId: record.id, device: record.device }
      if (record.expiresAt <= nowMs) log.info({ ...fields, reason: 'expired' }, 'session ended')
      else log.info({ ...fields, reason: 'removed_elsewhere' }, 'session revoked')
    }
  })

  function live (token: string, device: boolean): LiveSession | undefined {
    const record = store.byTokenHash(hashToken(token))
    if (record?.device !== device) return undefined
    const nowMs = now()
    const reason = endReason(record, nowMs)
    if (reason !== undefined) {
      remove([record], reason).catch(function notRemoved (err: unknown) { log.warn({ err, sessionId: record.id }, 'ended session not removed from the store') })
      return undefined
    }
    const found = account(record.name)
    if (found === undefined) return undefined
    if (nowMs - record.lastUsedAt >= TOUCH_INTERVAL_MS) store.touch(record.id, nowMs)
    return { principal: found.principal, record }
  }

  function sweep (): void {
    const nowMs = now()
    const byReason = new Map<string, SessionRecord[]>()
    for (const record of store.list()) {
      const reason = endReason(record, nowMs)
      if (reason === undefined) continue
      byReason.set(reason, [...(byReason.get(reason) ?? []), record])
    }
    for (const [reason, records] of byReason) {
      remove(records, reason).catch(function notSwept (err: unknown) { log.warn({ err, reason }, 'ended sessions not removed from the store') })
    }
  }
  const sweepTimer = setInterval(sweep, SWEEP_INTERVAL_MS)
  sweepTimer.unref()

  return {
    verify,
    hasAccount (name) { return account(name) !== undefined },
    async createSession (principal, { device, userAgent }) {
      const found = account(principal.name)
      if (found === undefined) throw new Error(`no account ${principal.name}`)
      const token = newToken()
      const nowMs = now()
      const record: SessionRecord = {
        id: newSessionId(),
        tokenHash: hashToken(token),
        name: principal.name,
        role: found.principal.role,
        fingerprint: secretFingerprint(found.secretHash),
        createdAt: nowMs,
        expiresAt: nowMs + (device ? options.deviceTtlMs : options.sessionTtlMs),
        lastUsedAt: nowMs,
        userAgent,
        device,
      }
      await store.add(record)
      return { token, record }
    },
    fromSession (token) { return live(token, false)?.principal },
    live,
    recordOf (token) { return store.byTokenHash(hashToken(token)) },
    fromBasic (header) {
      const credentials = parseBasic(header)
      return credentials === undefined ? undefined : verify(credentials.name, credentials.secret)
    },
    fromBearer (header) {
      const token = parseBearer(header)
      const name = token === undefined ? undefined : consumerNameOfToken(token)
      const consumer = name === undefined ? undefined : options.registry.getConsumer(name)
      if (token === undefined || name === undefined || consumer === undefined || !verifySecret(token, consumer.secretHash)) return undefined
      return { name, role: 'consumer', districts: consumer.scope.districts, scope: consumer.scope }
    },
    async endSession (token) {
      const record = store.byTokenHash(hashToken(token))
      if (record !== undefined) await remove([record], record.device ? 'device_forgotten' : 'signed_out')
    },
    list () {
      const nowMs = now()
      return store.list().filter(function isLive (record) { return endReason(record, nowMs) === undefined })
    },
    revoke (ids) {
      const records = ids.map(function recordOf (id) { return store.get(id) }).filter(function isThere (r): r is SessionRecord { return r !== undefined })
      return remove(records, 'revoked')
    },
    onEnded (listener) { store.onRemoved(listener) },
    sessionCount () { return store.list().length },
    close () { clearInterval(sweepTimer) },
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

/** The token of an `Authorization: Bearer …` header value; undefined when it is not one. */
export function parseBearer (header: string): string | undefined {
  const match = /^Bearer\s+([A-Za-z0-9._~+/-]{1,256}=*)\s*$/i.exec(header)
  return match?.[1]
}

/** Whether a principal may see a district. */
export function canSee (principal: Principal, district: string): boolean {
  return principal.districts === undefined || principal.districts.includes(district)
}
