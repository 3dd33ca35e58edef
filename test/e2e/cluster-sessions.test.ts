// Sessions in cluster mode, on a real nats-server: two gateway nodes (in this process, each with its
// own DATA_DIR) share the csg-sessions bucket. A session made on node A is accepted on node B; a
// revocation through B's API ends it on A, with its alarm stream there; `citygw session list` and
// `revoke --name` work with NATS_URL; a node started afterwards (a restart) accepts the sessions
// still there; the bucket holds no token.
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { withRegistryStore } from '../../broker/cluster/configured-registry-store.ts'
import { SESSIONS_BUCKET } from '../../broker/cluster/names.ts'
import { loadConfig } from '../../broker/config.ts'
import { addCrew, addOperator } from '../../broker/registry/provision.ts'
import { openEventStream } from '../helpers/api-client.ts'
import { runCitygw } from '../helpers/citygw.ts'
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { createTestKeyFile } from '../helpers/data-key.ts'

let nats: NatsCluster | undefined
let scratch: string
let env: Record<string, string>
const nodes: TestGateway[] = []
let crewSecret: string
let opsSecret: string

async function startNode (name: string): Promise<TestGateway> {
  const node = await startTestGateway({ env: { ...env, NODE_NAME: name } })
  nodes.push(node)
  return node
}

async function signIn (httpUrl: string, name: string, secret: string, remember = false): Promise<{ session: string; device: string | undefined }> {
  const res = await fetch(`${httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, secret, remember }) })
  expect(res.status).toBe(200)
  const cookies = res.headers.getSetCookie()
  const value = (cookie: string) => cookies.find((c) => c.startsWith(`${cookie}=`))?.split(';')[0]?.slice(cookie.length + 1)
  return { session: value('citygw_session') ?? '', device: value('citygw_device') }
}

const status = async (url: string, cookie: string, method = 'GET') => (await fetch(url, { method, headers: { cookie } })).status

beforeAll(async () => {
  nats = await startNatsCluster({ nodes: 1 })
  scratch = await makeTempDir('csg-cluster-sessions-')
  env = { NATS_URL: nats.urls.join(','), LOG_LEVEL: 'info', DATA_KEY_FILE: await createTestKeyFile(scratch) }
  const config = loadConfig({ ...env, DATA_DIR: scratch })
  crewSecret = (await withRegistryStore(config, (store) => addCrew(store, 'crew-north', ['north']))).secret
  opsSecret = (await withRegistryStore(config, (store) => addOperator(store, 'ops-1'))).secret
}, 60_000)
afterAll(async () => {
  for (const node of nodes) await node.close(true)
  await nats?.close()
  if (scratch !== undefined) await removeTempDir(scratch)
}, 60_000)

it('a session made on node A is accepted on node B; revoked through B, it ends on A with its alarm stream', async () => {
  const [a, b] = [await startNode('gw-a'), await startNode('gw-b')]
  const crew = await signIn(a.httpUrl, 'crew-north', crewSecret, true)
  const cookie = `citygw_session=${crew.session}`
  await expect.poll(() => status(`${b.httpUrl}/api/session`, cookie), { timeout: 5000 }).toBe(200)
  const device = await fetch(`${b.httpUrl}/api/session/device`, { headers: { cookie: `citygw_device=${crew.device ?? ''}` } })
  expect(await device.json()).toEqual({ name: 'crew-north' })

  const stream = await openEventStream(`${a.httpUrl}/api/alarms/stream`, { cookie })
  await stream.waitFor((e) => e.event === 'ready')
  const ops = await signIn(b.httpUrl, 'ops-1', opsSecret)
  const listed = await fetch(`${b.httpUrl}/api/sessions`, { headers: { cookie: `citygw_session=${ops.session}` } })
  const id = (await listed.json() as { id: string; name: string; kind: string }[]).find((s) => s.name === 'crew-north' && s.kind === 'session')?.id
  expect(id).toBeDefined()
  expect(await status(`${b.httpUrl}/api/sessions/${id}`, `citygw_session=${ops.session}`, 'DELETE')).toBe(204)
  await expect.poll(() => stream.ended, { timeout: 5000 }).toBe(true)
  expect(await status(`${a.httpUrl}/api/session`, cookie)).toBe(401)
  expect(await status(`${b.httpUrl}/api/session`, cookie)).toBe(401)
  expect(a.logs()).toContainEqual(expect.objectContaining({ msg: 'session revoked', sessionId: id, reason: 'removed_elsewhere' }))

  // The device token was not revoked: it starts a new session, on either node.
  const resume = await fetch(`${a.httpUrl}/api/session/resume`, { method: 'POST', headers: { cookie: `citygw_device=${crew.device ?? ''}` } })
  expect(resume.status).toBe(200)
})

it('`citygw session list` and `revoke --name` work on the bucket; a node started later accepts the sessions left; the bucket holds no token', async () => {
  const [a, b] = nodes as [TestGateway, TestGateway]
  const kept = await signIn(a.httpUrl, 'ops-1', opsSecret)
  const crew = await signIn(b.httpUrl, 'crew-north', crewSecret)
  const cli = (args: string[]) => runCitygw(args, { ...env, DATA_DIR: scratch, LOG_LEVEL: 'warn' }, 60_000)
  const listed = await cli(['session', 'list', '--json'])
  expect(listed.code, listed.stderr).toBe(0)
  const names = (JSON.parse(listed.stdout) as { name: string }[]).map((s) => s.name)
  expect(names).toEqual(expect.arrayContaining(['ops-1', 'crew-north']))

  const nc = await connect({ servers: [...nats!.urls] })
  try {
    const kv = await new Kvm(nc).open(SESSIONS_BUCKET)
    const values: string[] = []
    for await (const key of await kv.keys()) values.push((await kv.get(key))?.string() ?? '')
    const stored = values.join('\n')
    expect(stored).toContain('"tokenHash"')
    for (const token of [kept.session, crew.session]) expect(stored).not.toContain(token)
    expect(stored).not.toContain('s256$')
  } finally {
    await nc.close()
  }

  const revoked = await cli(['session', 'revoke', '--name', 'crew-north'])
  expect(revoked.code, revoked.stderr).toBe(0)
  for (const node of [a, b]) await expect.poll(() => status(`${node.httpUrl}/api/session`, `citygw_session=${crew.session}`), { timeout: 5000 }).toBe(401)

  // A node restarted (a new process on the bucket) still accepts what was not revoked.
  await a.close(true)
  nodes.splice(nodes.indexOf(a), 1)
  const c = await startNode('gw-c')
  expect(await status(`${c.httpUrl}/api/session`, `citygw_session=${kept.session}`)).toBe(200)
  expect(await status(`${c.httpUrl}/api/session`, `citygw_session=${crew.session}`)).toBe(401)
}, 90_000)
