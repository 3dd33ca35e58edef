// The single-node session store on a real DATA_DIR: records survive reopening, the file (mode 0600)
// holds token hashes only, the CLI's revocations reach an open store without restart and are not
// undone by its later writes, the store stays within its maximum count, expired records are pruned.
import { stat, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../broker/log.ts'
import { openFileSessionStore } from '../../../broker/sessions/file-store.ts'
import { hashToken, newSessionId, newToken, secretFingerprint, type SessionRecord } from '../../../broker/sessions/record.ts'
import { fileSessionAdmin, readSessionsFile } from '../../../broker/sessions/sessions-file.ts'
import type { SessionStore } from '../../../broker/sessions/store.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

const log = createLogger('silent')
const POLL_MS = 50
let dir: string
let file: string
const open: SessionStore[] = []

beforeEach(async () => {
  dir = await makeTempDir('csg-sessions-')
  file = join(dir, 'sessions.json')
})
afterEach(async () => {
  for (const store of open.splice(0)) await store.close()
  await removeTempDir(dir)
})

async function openStore (maxSessions = 100): Promise<SessionStore> {
  const store = await openFileSessionStore({ file, pollMs: POLL_MS, maxSessions, log })
  open.push(store)
  return store
}

function record (overrides: Partial<SessionRecord> = {}): { token: string; record: SessionRecord } {
  const token = newToken()
  const now = Date.now()
  return {
    token,
    record: {
      id: newSessionId(),
      tokenHash: hashToken(token),
      name: 'crew-north',
      role: 'crew',
      fingerprint: secretFingerprint('s256$secret-hash'),
      createdAt: now,
      expiresAt: now + 3_600_000,
      lastUsedAt: now,
      userAgent: 'test',
      device: false,
      ...overrides,
    },
  }
}

describe('file session store', () => {
  it('keeps records across reopening; the file (0600) holds the token hash, never the token', async () => {
    const store = await openStore()
    const { token, record: r } = record()
    await store.add(r)
    expect(store.byTokenHash(hashToken(token))).toEqual(r)
    await store.close()
    open.length = 0

    const text = await readFile(file, 'utf8')
    expect(text).toContain(r.tokenHash)
    expect(text).not.toContain(token)
    expect((await stat(file)).mode & 0o777).toBe(0o600)

    const reopened = await openStore()
    expect(reopened.byTokenHash(hashToken(token))).toEqual(r)
  })

  it('sees a revocation made by another process, and a later last-used write does not bring it back', async () => {
    const store = await openStore()
    const kept = record().record
    const revoked = record().record
    await store.add(kept)
    await store.add(revoked)
    const removed: string[] = []
    store.onRemoved((records) => { for (const r of records) removed.push(r.id) })

    // A use noted here before the revocation, written after it: the revocation stands.
    store.touch(revoked.id, Date.now() + 60_000)
    store.touch(kept.id, Date.now() + 60_000)
    expect((await fileSessionAdmin(file).remove((r) => r.id === revoked.id)).map((r) => r.id)).toEqual([revoked.id])
    await store.add(record().record) // writes the pending last-used times with it
    const onDisk = await readSessionsFile(file)
    expect(onDisk.map((r) => r.id)).not.toContain(revoked.id)
    expect(onDisk.find((r) => r.id === kept.id)?.lastUsedAt).toBeGreaterThan(kept.lastUsedAt)
    await expect.poll(() => store.get(revoked.id), { timeout: 5000 }).toBeUndefined()
    expect(removed).toEqual([revoked.id])
    expect(store.get(kept.id)).toBeDefined()
  })

  it('coalesces writes: many records added at once all reach the file', async () => {
    const store = await openStore()
    const records = Array.from({ length: 40 }, () => record().record)
    await Promise.all(records.map((r) => store.add(r)))
    expect((await readSessionsFile(file)).map((r) => r.id).sort()).toEqual(records.map((r) => r.id).sort())
  })

  it('drops the least recently used record beyond the maximum, and prunes expired ones when writing', async () => {
    const store = await openStore(3)
    const now = Date.now()
    const records = [record({ lastUsedAt: now - 3000 }), record({ lastUsedAt: now - 1000 }), record({ lastUsedAt: now - 2000 })].map((r) => r.record)
    for (const r of records) await store.add(r)
    const removed: string[] = []
    store.onRemoved((gone) => { for (const r of gone) removed.push(r.id) })
    await store.add(record().record)
    expect(removed).toEqual([records[0]!.id])
    expect(store.list()).toHaveLength(3)
    expect(await readSessionsFile(file)).toHaveLength(3)

    const expired = record({ expiresAt: Date.now() + 150 }).record
    await store.remove([records[1]!.id])
    await store.add(expired)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await store.remove([records[2]!.id])
    expect((await readSessionsFile(file)).map((r) => r.id)).not.toContain(expired.id)
  })

  it('drops entries that do not validate and treats a damaged file as empty', async () => {
    const good = record().record
    const { writeFile } = await import('node:fs/promises')
    await writeFile(file, JSON.stringify({ version: 1, sessions: [good, { ...good, id: 'x', tokenHash: 'nope' }] }))
    expect((await openStore()).list().map((r) => r.id)).toEqual([good.id])
    await writeFile(file, '{"version":1,"sessions":[')
    const store = await openStore()
    expect(store.list()).toEqual([])
  })
})
