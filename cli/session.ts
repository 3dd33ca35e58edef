// `citygw session list|revoke`: the API's signed-in sessions and trusted devices (DATA_DIR/
// sessions.json, or the cluster's bucket when NATS_URL is set). A running gateway sees a revocation
// within REGISTRY_POLL_MS (file) or at once (bucket) and closes the session's alarm streams.
import { InvalidArgumentError, type Command } from 'commander'
import { loadConfig, type Config } from '../broker/config.ts'
import { withSessionAdmin } from '../broker/cluster/configured-session-store.ts'
import { idSchema } from '../broker/registry/schema.ts'
import { publicView, sessionIdSchema, type SessionView } from '../broker/sessions/record.ts'
import { print } from './output.ts'

/** A session as the CLI shows it: the API's view of it. */
export type SessionListing = SessionView

/** Sessions and trusted devices that have not expired, most recently used first. */
export async function listSessions (config: Config, nowMs = Date.now()): Promise<SessionListing[]> {
  const records = await withSessionAdmin(config, function readAll (admin) { return admin.list() })
  return records
    .filter(function live (r) { return r.expiresAt > nowMs })
    .sort(function recentFirst (a, b) { return b.lastUsedAt - a.lastUsedAt })
    .map(publicView)
}

/** Ends one session or device token by id, or every one of an account; returns those ended. */
export async function revokeSessions (config: Config, which: { id: string } | { name: string }): Promise<SessionListing[]> {
  const removed = await withSessionAdmin(config, function revoke (admin) {
    return admin.remove(function chosen (record) { return 'id' in which ? record.id === which.id : record.name === which.name })
  })
  return removed.map(publicView)
}

function parseId (value: string): string {
  if (!sessionIdSchema.safeParse(value).success) throw new InvalidArgumentError('not a session id (16 characters, see `citygw session list`)')
  return value
}

function parseName (value: string): string {
  if (!idSchema.safeParse(value).success) throw new InvalidArgumentError('not an account name')
  return value
}

export function addSessionCommands (program: Command): void {
  const session = program.command('session')
    .description('API sessions and trusted devices of crews and operators: list, revoke (the cluster\'s bucket when NATS_URL is set, else DATA_DIR/sessions.json)')

  session.command('list')
    .description('sessions and trusted devices that have not expired: id, name, role, kind, created, last used, expires, user agent')
    .option('--json', 'one JSON array')
    .action(async function sessionList (opts: { json?: boolean }) {
      const sessions = await listSessions(loadConfig())
      if (opts.json === true) {
        print(JSON.stringify(sessions))
        return
      }
      if (sessions.length === 0) {
        print('no sessions')
        return
      }
      print(['id', 'name', 'role', 'kind', 'created', 'last used', 'expires', 'user agent'].join('\t'))
      for (const s of sessions) print([s.id, s.name, s.role, s.kind, s.createdAt, s.lastUsedAt, s.expiresAt, s.userAgent].join('\t'))
    })

  session.command('revoke')
    .description('end a session or trusted device by id, or with --name every one of an account; a running gateway closes their alarm streams')
    .argument('[id]', 'session id from `citygw session list`', parseId)
    .option('--name <account>', 'every session and trusted device of this crew or operator', parseName)
    .action(async function sessionRevoke (id: string | undefined, opts: { name?: string }) {
      if ((id === undefined) === (opts.name === undefined)) throw new InvalidArgumentError('give either a session id or --name <account>')
      const which = id === undefined ? { name: opts.name ?? '' } : { id }
      const removed = await revokeSessions(loadConfig(), which)
      if (removed.length === 0) {
        process.stderr.write(`citygw: ${id === undefined ? `no session of ${opts.name ?? ''}` : `no session ${id}`}\n`)
        process.exitCode = 1
        return
      }
      for (const s of removed) print(`revoked ${s.kind} ${s.id} of ${s.name}`)
    })
}
