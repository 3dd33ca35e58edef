// Persistent sessions (clean = false) of crew accounts. Several phones may share one crew account,
// each under its own client id, and each persistent session keeps a queue while its phone is away:
// an account may keep at most `maxPerCrew` of them. A new one replaces the least recently connected
// session that is not connected now; when all are connected, it is refused. A session belongs to
// the account that made it: another account may not resume it (it would receive that account's
// queued alarms).

export interface CrewSessionsOptions {
  maxPerCrew: number
  isConnected(clientId: string): boolean
  /** Forgets a session's state in the broker (subscriptions, queue). */
  dropSession(clientId: string): void
}

export type SessionAdmission = { ok: true; replaced?: string } | { ok: false; reason: 'persistent_sessions' | 'session_of_another_account' }

export interface CrewSessions {
  readonly maxPerCrew: number
  /** A crew connects with clean = false under this client id. */
  admit(crew: string, clientId: string): SessionAdmission
  /** A crew connected with clean = true under this client id: Aedes discards its session. */
  ended(clientId: string): void
  /** The crew was removed: its sessions are dropped. */
  forget(crew: string): void
}

export function createCrewSessions (options: CrewSessionsOptions): CrewSessions {
  /** Crew → its sessions' client ids, least recently connected first. */
  const byCrew = new Map<string, Set<string>>()
  const ownerOf = new Map<string, string>()

  function end (clientId: string): void {
    const owner = ownerOf.get(clientId)
    if (owner === undefined) return
    ownerOf.delete(clientId)
    const sessions = byCrew.get(owner)
    sessions?.delete(clientId)
    if (sessions?.size === 0) byCrew.delete(owner)
  }

  return {
    maxPerCrew: options.maxPerCrew,
    admit (crew, clientId) {
      const owner = ownerOf.get(clientId)
      if (owner !== undefined && owner !== crew) return { ok: false, reason: 'session_of_another_account' }
      let sessions = byCrew.get(crew)
      if (sessions === undefined) {
        sessions = new Set()
        byCrew.set(crew, sessions)
      }
      if (sessions.delete(clientId)) {
        sessions.add(clientId) // now the most recently connected
        return { ok: true }
      }
      let replaced: string | undefined
      if (sessions.size >= options.maxPerCrew) {
        for (const candidate of sessions) {
          if (!options.isConnected(candidate)) {
            replaced = candidate
            break
          }
        }
        if (replaced === undefined) return { ok: false, reason: 'persistent_sessions' }
        end(replaced)
        options.dropSession(replaced)
      }
      // end() forgets a crew whose last session it was: the new one starts its set again.
      byCrew.set(crew, sessions)
      sessions.add(clientId)
      ownerOf.set(clientId, crew)
      return replaced === undefined ? { ok: true } : { ok: true, replaced }
    },
    ended (clientId) { end(clientId) },
    forget (crew) {
      for (const clientId of [...(byCrew.get(crew) ?? [])]) {
        end(clientId)
        options.dropSession(clientId)
      }
    },
  }
}
