// The cluster's session store on a real nats-server: two stores on their own connections (two
// gateway nodes) and the CLI's admin view share one bucket. A record added on one is found by its
// token hash on the other; a removal by the CLI reaches both (onRemoved); a last-used time reaches
// the other node; the store stays within its maximum count; an entry that does not
// validate counts as absent. (Last-used times are written by compare-and-set on the revision last
// seen, so one racing a removal fails instead of bringing the record back.)
import { afterEach, beforeEach, expect, it } from 'vitest'
import { kvSessionAdmin, openSessionBucket, type SessionBucket } from '../../../broker/cluster/session-bucket.ts'
import { openKvSessionStore } from '../../../broker/cluster/session-kv-store.ts'
import { createLogger } from '../../../broker/log.ts'
import { hashToken, newSessionId, newToken, secretFingerprint, type SessionRecord } from '../../../broker/sessions/record.ts'
import type { SessionStore } from '../../../broker/sessions/store.ts'
import { useNatsConnections } from '../../helpers/nats.ts'

const log = createLogger('silent')
const connections = useNatsConnections(3)
let bucketCount = 0
let bucketName: string
const stores: SessionStore[] = []

beforeEach(() => { bucketName = `sessions-test-${++bucketCount}` })
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
})

async function bucket (index: number): Promise<SessionBucket> {
  return openSessionBucket(connections[index]!, 1, bucketName)
}

async function openStore (index: number, maxSessions = 100): Promise<SessionStore> {
  const store = await openKvSessionStore({ bucket: await bucket(index), maxSessions, log })
  stores.push(store)
  return store
}

function record (overrides: Partial<SessionRecord> = {}): { token: string; record: SessionRecord } {
  const token = newToken()
  const now = Date.now()
  return {
    token,
    record: { id: newSessionId(), tokenHash: hashToken(token), name: 'crew-north', role: 'crew', fingerprint: secretFingerprint('s256$x'), createdAt: now, expiresAt: now + 3_600_000, lastUsedAt: now, userAgent: '', device: false, ...overrides },
  }
}

it('a record added on one node is found by token hash on the other; the CLI\'s removal reaches both and a later touch does not undo it', async () => {
  const [a, b] = [await openStore(0), await openStore(1)]
  const { token, record: r } = record()
  await a.add(r)
  await expect.poll(() => b.byTokenHash(hashToken(token))?.id, { timeout: 5000 }).toBe(r.id)
  const removedOnB: string[] = []
  b.onRemoved((records) => { for (const x of records) removedOnB.push(x.id) })

  const admin = kvSessionAdmin(await bucket(2), log)
  expect((await admin.list()).map((x) => x.id)).toEqual([r.id])
  expect((await admin.remove((x) => x.id === r.id)).map((x) => x.id)).toEqual([r.id])
  await expect.poll(() => removedOnB, { timeout: 5000 }).toEqual([r.id])
  await expect.poll(() => a.get(r.id), { timeout: 5000 }).toBeUndefined()
  a.touch(r.id, Date.now() + 60_000) // gone from memory: nothing is written
  expect(await admin.list()).toEqual([])
})

it('a last-used time reaches the bucket and the other node; the CLI\'s view shows it', async () => {
  const [a, b] = [await openStore(0), await openStore(1)]
  const { record: r } = record()
  await a.add(r)
  await expect.poll(() => b.get(r.id), { timeout: 5000 }).toBeDefined()
  const usedAt = r.lastUsedAt + 90_000
  a.touch(r.id, usedAt)
  await expect.poll(() => b.get(r.id)?.lastUsedAt, { timeout: 5000 }).toBe(usedAt)
  expect((await kvSessionAdmin(await bucket(2), log).list())[0]?.lastUsedAt).toBe(usedAt)
})

it('drops the least recently used record beyond the maximum, and ignores invalid entries', async () => {
  const a = await openStore(0, 2)
  const now = Date.now()
  const [old, recent] = [record({ lastUsedAt: now - 5000 }).record, record({ lastUsedAt: now - 1000 }).record]
  await a.add(old)
  await a.add(recent)
  const newest = record().record
  await a.add(newest)
  expect(a.list().map((x) => x.id).sort()).toEqual([recent.id, newest.id].sort())

  const kv = (await bucket(2)).kv
  await kv.put('AAAAAAAAAAAAAAAA', JSON.stringify({ ...newest, id: 'AAAAAAAAAAAAAAAA', tokenHash: 'not-a-hash' }))
  const b = await openStore(1, 10)
  expect(b.list().map((x) => x.id).sort()).toEqual([recent.id, newest.id].sort())
})
