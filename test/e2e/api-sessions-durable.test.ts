// Sessions kept in DATA_DIR/sessions.json: a cookie still works after the gateway is stopped and
// started again; the file holds neither a token nor an account's secret hash; a trusted-device
// cookie signs in again after the session expired; account names in it are sealed; revocation by
// the CLI (`citygw session revoke`) or the API ends the session, its open alarm stream and the device token; a changed secret or a
// removed account ends both; failed resumes count against the failed-sign-in limit.
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFieldCipher } from '../../broker/crypto/field-cipher.ts'
import { readKeyFile } from '../../broker/crypto/key-file.ts'
import { addOperator } from '../../broker/registry/provision.ts'
import { hashSecret } from '../../broker/registry/secrets.ts'
import { registryPath, updateRegistry } from '../../broker/registry/store.ts'
import { openEventStream } from '../helpers/api-client.ts'
import { runCitygw } from '../helpers/citygw.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { removeTempDir } from '../helpers/server-process.ts'

interface SignedIn {
  /** `cookie` header value with every cookie set. */
  cookie: string
  session: string
  device: string | undefined
  setCookies: string[]
  body: Record<string, unknown>
}

function cookieValue (setCookies: string[], name: string): string | undefined {
  const line = setCookies.find((c) => c.startsWith(`${name}=`))
  const value = line?.split(';')[0]?.slice(name.length + 1)
  return value === undefined || value === '' ? undefined : value
}

function cookieHeader (session: string | undefined, device?: string): { cookie: string } {
  const parts = [session === undefined ? undefined : `citygw_session=${session}`, device === undefined ? undefined : `citygw_device=${device}`].filter((p) => p !== undefined)
  return { cookie: parts.join('; ') }
}

async function signIn (httpUrl: string, name: string, secret: string, remember = false): Promise<SignedIn> {
  const res = await fetch(`${httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'phone-test/1.0' }, body: JSON.stringify({ name, secret, remember }) })
  if (res.status !== 200) throw new Error(`sign-in as ${name}: ${res.status} ${await res.text()}`)
  const setCookies = res.headers.getSetCookie()
  const session = cookieValue(setCookies, 'citygw_session')
  if (session === undefined) throw new Error('no session cookie')
  const device = cookieValue(setCookies, 'citygw_device')
  return { cookie: cookieHeader(session, device).cookie, session, device, setCookies, body: await res.json() as Record<string, unknown> }
}

async function status (url: string, headers: Record<string, string>, method = 'GET'): Promise<number> {
  return (await fetch(url, { method, headers })).status
}

interface SessionInfo { id: string; name: string; kind: string; current: boolean; [key: string]: unknown }

async function sessions (httpUrl: string, headers: Record<string, string>): Promise<SessionInfo[]> {
  const res = await fetch(`${httpUrl}/api/sessions`, { headers })
  expect(res.status).toBe(200)
  return await res.json() as SessionInfo[]
}

describe('durable sessions (single node)', () => {
  let gw: TestGateway
  let dataDir: string
  const secrets: Record<string, string> = {}
  const citygw = (args: string[]) => runCitygw(args, { DATA_DIR: dataDir, LOG_LEVEL: 'warn' })

  beforeAll(async () => {
    gw = await startTestGateway({ env: { API_SIGNIN_PER_MIN: '5' } })
    dataDir = gw.dataDir
    for (const name of ['crew-north', 'crew-south', 'crew-east', 'crew-west']) secrets[name] = (await registerCrew(dataDir, name, ['north'])).secret
    secrets['ops-1'] = (await addOperator(registryPath(dataDir), 'ops-1')).secret
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => {
    await gw?.close()
    await removeTempDir(dataDir)
  })

  it('a session and a trusted device outlive a restart; sessions.json (0600) holds neither token nor secret hash', async () => {
    const signedIn = await signIn(gw.httpUrl, 'crew-north', secrets['crew-north']!, true)
    expect(signedIn.body).toMatchObject({ name: 'crew-north', trustedDevice: true })
    const deviceCookie = signedIn.setCookies.find((c) => c.startsWith('citygw_device=')) ?? ''
    expect(deviceCookie).toMatch(/^citygw_device=[A-Za-z0-9_-]{43};/)
    expect(deviceCookie).toContain('HttpOnly')
    expect(deviceCookie).toContain('SameSite=Strict')
    expect(deviceCookie).toContain('Path=/api/session')
    expect(deviceCookie).toContain(`Max-Age=${30 * 86_400}`)
    const me = await fetch(`${gw.httpUrl}/api/session`, { headers: { cookie: signedIn.cookie } })
    expect(await me.json()).toMatchObject({ name: 'crew-north', trustedDevice: true, expiresAt: expect.any(String) as unknown })
    const withoutDevice = await fetch(`${gw.httpUrl}/api/session`, { headers: cookieHeader(signedIn.session) })
    expect(await withoutDevice.json()).toMatchObject({ trustedDevice: false })

    await gw.close()
    const text = await readFile(join(dataDir, 'sessions.json'), 'utf8')
    const registry = JSON.parse(await readFile(registryPath(dataDir), 'utf8')) as { crews: Record<string, { secretHash: string }> }
    const secretHash = registry.crews['crew-north']!.secretHash
    expect(text).not.toContain(signedIn.session)
    expect(text).not.toContain(signedIn.device)
    expect(text).not.toContain(secretHash)
    expect(text).not.toContain(secretHash.slice(5, 30))
    expect(text).not.toContain(secrets['crew-north'])
    expect((await stat(join(dataDir, 'sessions.json'))).mode & 0o777).toBe(0o600)
    const stored = (JSON.parse(text) as { sessions: { name: string; device: boolean; userAgent: string }[] }).sessions
    // Account names are sealed with the data key (DATA_DIR/data.key here, made on the first start).
    expect(text).not.toContain('crew-north')
    const cipher = createFieldCipher((await readKeyFile(join(dataDir, 'data.key')))!)
    expect(stored.filter((s) => cipher.open('sessionName', s.name) === 'crew-north').map((s) => s.device).sort()).toEqual([false, true])
    expect(stored[0]?.userAgent).toBe('phone-test/1.0')

    gw = await startTestGateway({ dataDir, env: { API_SIGNIN_PER_MIN: '5' } })
    expect(await status(`${gw.httpUrl}/api/devices`, { cookie: signedIn.cookie })).toBe(200)
    const device = await fetch(`${gw.httpUrl}/api/session/device`, { headers: cookieHeader(undefined, signedIn.device) })
    expect(device.status).toBe(200)
    expect(await device.json()).toEqual({ name: 'crew-north' })
    expect(await status(`${gw.httpUrl}/api/session/device`, {})).toBe(404)
  })

  it('`citygw session revoke <id>` ends the session and its open alarm stream at once', async () => {
    const signedIn = await signIn(gw.httpUrl, 'crew-south', secrets['crew-south']!)
    const headers = { cookie: signedIn.cookie }
    const stream = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, headers)
    expect(stream.status).toBe(200)
    await stream.waitFor((e) => e.event === 'ready')
    const current = (await sessions(gw.httpUrl, headers)).find((s) => s.current)
    expect(current).toMatchObject({ name: 'crew-south', kind: 'session', userAgent: 'phone-test/1.0' })
    expect(current).not.toHaveProperty('tokenHash')

    const listed = await citygw(['session', 'list', '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    const rows = JSON.parse(listed.stdout) as Record<string, unknown>[]
    expect(rows).toContainEqual(expect.objectContaining({ id: current!.id, name: 'crew-south', role: 'crew', kind: 'session', userAgent: 'phone-test/1.0' }))
    expect(listed.stdout).not.toMatch(/tokenHash|fingerprint/)
    const table = await citygw(['session', 'list'])
    expect(table.stdout).toMatch(new RegExp(`^${current!.id}\\tcrew-south\\tcrew\\tsession\\t`, 'm'))

    const revoked = await citygw(['session', 'revoke', current!.id])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(revoked.stdout).toContain(`revoked session ${current!.id} of crew-south`)
    // Within the file's polling (100 ms here), far inside the 20 s heartbeat.
    await expect.poll(() => stream.ended, { timeout: 5000 }).toBe(true)
    expect(await status(`${gw.httpUrl}/api/session`, headers)).toBe(401)
    expect(gw.logs()).toContainEqual(expect.objectContaining({ msg: 'session revoked', name: 'crew-south', sessionId: current!.id }))
    expect(JSON.stringify(gw.logs())).not.toContain(signedIn.session)

    const again = await citygw(['session', 'revoke', current!.id])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain(`no session ${current!.id}`)
    // An id beginning with `-` (new ids never do) is given after `--`.
    const dashed = await citygw(['session', 'revoke', '--', '-AAAAAAAAAAAAAAA'])
    expect(dashed.code).toBe(1)
    expect(dashed.stderr).toContain('no session -AAAAAAAAAAAAAAA')
    expect((await citygw(['session', 'revoke'])).code).toBe(1)
  })

  it('`citygw session revoke --name` ends every session and device token of the account; resuming then gets 401 and clears the cookie', async () => {
    const phone = await signIn(gw.httpUrl, 'crew-east', secrets['crew-east']!, true)
    const laptop = await signIn(gw.httpUrl, 'crew-east', secrets['crew-east']!)
    const other = await signIn(gw.httpUrl, 'crew-north', secrets['crew-north']!)
    const revoked = await citygw(['session', 'revoke', '--name', 'crew-east'])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(revoked.stdout.trim().split('\n')).toHaveLength(3)
    await expect.poll(() => status(`${gw.httpUrl}/api/session`, { cookie: laptop.cookie }), { timeout: 5000 }).toBe(401)
    expect(await status(`${gw.httpUrl}/api/session`, cookieHeader(phone.session))).toBe(401)
    expect(await status(`${gw.httpUrl}/api/session`, { cookie: other.cookie })).toBe(200)

    const resume = await fetch(`${gw.httpUrl}/api/session/resume`, { method: 'POST', headers: cookieHeader(undefined, phone.device) })
    expect(resume.status).toBe(401)
    expect(resume.headers.getSetCookie().join('\n')).toMatch(/^citygw_device=;.*Path=\/api\/session/m)
    expect(await status(`${gw.httpUrl}/api/session/device`, cookieHeader(undefined, phone.device))).toBe(404)
  })

  it('crews list and revoke only their own sessions through the API, operators any', async () => {
    const west = await signIn(gw.httpUrl, 'crew-west', secrets['crew-west']!)
    const north = await signIn(gw.httpUrl, 'crew-north', secrets['crew-north']!)
    const ops = await signIn(gw.httpUrl, 'ops-1', secrets['ops-1']!)
    const westList = await sessions(gw.httpUrl, { cookie: west.cookie })
    expect(westList.map((s) => s.name)).toEqual(['crew-west'])
    const all = await sessions(gw.httpUrl, { cookie: ops.cookie })
    expect(new Set(all.map((s) => s.name))).toEqual(new Set(['crew-north', 'crew-west', 'ops-1']))
    expect(JSON.stringify(all)).not.toMatch(/tokenHash|fingerprint/)
    const northId = (await sessions(gw.httpUrl, { cookie: north.cookie })).find((s) => s.current)!.id

    expect(await status(`${gw.httpUrl}/api/sessions/${northId}`, { cookie: west.cookie }, 'DELETE')).toBe(404)
    expect(await status(`${gw.httpUrl}/api/sessions/no-such-session`, { cookie: ops.cookie }, 'DELETE')).toBe(404)
    expect(await status(`${gw.httpUrl}/api/session`, { cookie: north.cookie })).toBe(200)
    expect(await status(`${gw.httpUrl}/api/sessions/${northId}`, { cookie: ops.cookie }, 'DELETE')).toBe(204)
    expect(await status(`${gw.httpUrl}/api/session`, { cookie: north.cookie })).toBe(401)
    const westId = westList[0]!.id
    expect(await status(`${gw.httpUrl}/api/sessions/${westId}`, { cookie: west.cookie }, 'DELETE')).toBe(204)
    expect(await status(`${gw.httpUrl}/api/session`, { cookie: west.cookie })).toBe(401)
  })

  it('a changed secret or a removed account ends both the session and the device token', async () => {
    const changed = await signIn(gw.httpUrl, 'crew-north', secrets['crew-north']!, true)
    const removed = await signIn(gw.httpUrl, 'crew-west', secrets['crew-west']!, true)
    await updateRegistry(registryPath(dataDir), (data) => {
      data.crews['crew-north']!.secretHash = hashSecret('a new secret')
      delete data.crews['crew-west']
    })
    await gw.gateway.reloadRegistry()
    for (const signedIn of [changed, removed]) {
      expect(await status(`${gw.httpUrl}/api/session`, cookieHeader(signedIn.session))).toBe(401)
      expect(await status(`${gw.httpUrl}/api/session/resume`, cookieHeader(undefined, signedIn.device), 'POST')).toBe(401)
    }
    secrets['crew-north'] = 'a new secret'
  })

  it('DELETE /api/session?forget=device ends the device token too', async () => {
    const signedIn = await signIn(gw.httpUrl, 'crew-north', secrets['crew-north']!, true)
    const res = await fetch(`${gw.httpUrl}/api/session?forget=device`, { method: 'DELETE', headers: { cookie: signedIn.cookie } })
    expect(res.status).toBe(204)
    expect(res.headers.getSetCookie().join('\n')).toMatch(/^citygw_device=;/m)
    expect(await status(`${gw.httpUrl}/api/session/resume`, cookieHeader(undefined, signedIn.device), 'POST')).toBe(401)
    // Without it, signing out keeps the device trusted.
    const kept = await signIn(gw.httpUrl, 'crew-north', secrets['crew-north']!, true)
    expect(await status(`${gw.httpUrl}/api/session`, { cookie: kept.cookie }, 'DELETE')).toBe(204)
    expect(await status(`${gw.httpUrl}/api/session/resume`, cookieHeader(undefined, kept.device), 'POST')).toBe(200)
  })
})

describe('trusted device after the session expired; failed resumes', () => {
  let gw: TestGateway
  let secret: string
  let device: string | undefined

  beforeAll(async () => {
    gw = await startTestGateway({ env: { API_SESSION_TTL_SEC: '1', API_DEVICE_TTL_DAYS: '2', API_SIGNIN_PER_MIN: '5' } })
  })
  afterAll(async () => { await gw?.close(true) })

  it('resume gives a new session; the expired one stays ended', async () => {
    secret = (await registerCrew(gw.dataDir, 'crew-night')).secret
    await gw.gateway.reloadRegistry()
    const signedIn = await signIn(gw.httpUrl, 'crew-night', secret, true)
    device = signedIn.device
    expect(signedIn.setCookies.find((c) => c.startsWith('citygw_device='))).toContain(`Max-Age=${2 * 86_400}`)
    await expect.poll(() => status(`${gw.httpUrl}/api/session`, cookieHeader(signedIn.session)), { timeout: 5000 }).toBe(401)

    const resume = await fetch(`${gw.httpUrl}/api/session/resume`, { method: 'POST', headers: cookieHeader(signedIn.session, signedIn.device) })
    expect(resume.status).toBe(200)
    expect(await resume.json()).toMatchObject({ name: 'crew-night', role: 'crew', trustedDevice: true, expiresAt: expect.any(String) as unknown })
    const session = cookieValue(resume.headers.getSetCookie(), 'citygw_session')
    expect(session).toBeDefined()
    expect(session).not.toBe(signedIn.session)
    expect(await status(`${gw.httpUrl}/api/devices`, cookieHeader(session))).toBe(200)
    expect(await status(`${gw.httpUrl}/api/devices`, cookieHeader(signedIn.session))).toBe(401)
    expect(gw.logs()).toContainEqual(expect.objectContaining({ msg: 'session resumed', name: 'crew-night', sessionId: expect.any(String) as unknown }))
  })

  it('failed resumes count against the failed-sign-in limit (API_SIGNIN_PER_MIN=5 here); a valid device cookie still gets in', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) statuses.push(await status(`${gw.httpUrl}/api/session/resume`, cookieHeader(undefined, `forged-${i}`), 'POST'))
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429])
    const limited = await fetch(`${gw.httpUrl}/api/session/resume`, { method: 'POST' })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).not.toBeNull()
    expect(await status(`${gw.httpUrl}/api/session/resume`, cookieHeader(undefined, device), 'POST')).toBe(200)
  })
})
