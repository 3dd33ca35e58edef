// The HTTP API's door: nothing under /api is open without a crew or operator account;
// sign-in sets an HttpOnly, SameSite=Strict cookie, HTTP Basic works for scripts, sign-out ends
// the session, `citygw operator add` creates operators, bad input gets 400, and failed sign-ins are limited.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, signIn } from '../helpers/api-client.ts'
import { CITYGW_ENTRY, REPO_ROOT, registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'

const execFileAsync = promisify(execFile)
const PROTECTED = ['/api/session', '/api/devices', '/api/devices/mh-1', '/api/devices/mh-1/series', '/api/alarms', '/api/alarms/stream']

describe('API sign-in and access', () => {
  let gw: TestGateway
  let crewSecret: string
  let deviceSecret: string
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gw.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

  beforeAll(async () => {
    gw = await startTestGateway({ env: { API_SIGNIN_PER_MIN: '20' } })
    crewSecret = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    deviceSecret = (await registerDevice(gw.dataDir, 'mh-1', 'manhole', 'north')).secret
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => { await gw?.close(true) })

  it('refuses every protected endpoint without credentials, and with a device\'s or a wrong secret', async () => {
    for (const path of PROTECTED) {
      for (const headers of [{}, basic('crew-north', 'wrong'), basic('mh-1', deviceSecret), { cookie: 'citygw_session=forged' }]) {
        const res = await fetch(`${gw.httpUrl}${path}`, { headers })
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401)
        expect(await res.json()).toMatchObject({ statusCode: 401, error: 'Unauthorized' })
      }
    }
    const ack = await post('/api/alarms/x/ack', {})
    expect(ack.status).toBe(401)
    const challenged = await fetch(`${gw.httpUrl}/api/devices`, { headers: basic('crew-north', 'wrong') })
    expect(challenged.headers.get('www-authenticate')).toMatch(/^Basic realm="citygw"/)
  })

  it('signs in with a cookie that is HttpOnly, SameSite=Strict and ends on sign-out', async () => {
    expect((await post('/api/session', { name: 'crew-north', secret: 'nope' })).status).toBe(401)
    expect((await post('/api/session', { name: 'mh-1', secret: deviceSecret })).status).toBe(401)
    const res = await post('/api/session', { name: 'crew-north', secret: crewSecret })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ name: 'crew-north', role: 'crew', districts: ['north'] })
    const setCookie = res.headers.get('set-cookie') ?? ''
    expect(setCookie).toMatch(/^citygw_session=[A-Za-z0-9_-]{43};/)
    expect(setCookie).toContain('HttpOnly')
    expect(setCookie).toContain('SameSite=Strict')
    expect(setCookie).toContain('Path=/')
    const cookie = { cookie: setCookie.split(';')[0]! }

    const me = await fetch(`${gw.httpUrl}/api/session`, { headers: cookie })
    expect(await me.json()).toMatchObject({ name: 'crew-north', role: 'crew' })
    expect((await fetch(`${gw.httpUrl}/api/devices`, { headers: cookie })).status).toBe(200)
    expect((await fetch(`${gw.httpUrl}/api/session`, { method: 'DELETE', headers: cookie })).status).toBe(204)
    expect((await fetch(`${gw.httpUrl}/api/devices`, { headers: cookie })).status).toBe(401)
  })

  it('accepts HTTP Basic for scripts', async () => {
    const res = await fetch(`${gw.httpUrl}/api/session`, { headers: basic('crew-north', crewSecret) })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ name: 'crew-north', districts: ['north'] })
  })

  it('answers bad sign-in input with 400 and a reason', async () => {
    for (const body of [{}, { name: 'crew-north' }, { name: 'a b', secret: 'x' }, { name: 'crew-north', secret: 'x', extra: 1 }]) {
      const res = await post('/api/session', body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect((await res.json() as { message: string }).message).toMatch(/body/)
    }
    const notJson = await fetch(`${gw.httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' })
    expect(notJson.status).toBe(400)
  })

  it('creates operators with `citygw operator add` (shared namespace, secret printed once) who see all', async () => {
    const run = (args: string[]) => execFileAsync(process.execPath, [CITYGW_ENTRY, ...args], { cwd: REPO_ROOT, env: { ...process.env, DATA_DIR: gw.dataDir }, timeout: 20_000 })
    const { stdout } = await run(['operator', 'add', 'ops-1', '--json'])
    const credential = JSON.parse(stdout) as { id: string; secret: string }
    expect(credential.id).toBe('ops-1')
    expect(credential.secret.length).toBeGreaterThanOrEqual(22)
    await expect(run(['operator', 'add', 'crew-north'])).rejects.toMatchObject({ stderr: expect.stringContaining('already registered') as unknown })
    await gw.gateway.reloadRegistry()
    const cookie = await signIn(gw.httpUrl, 'ops-1', credential.secret)
    const me = await fetch(`${gw.httpUrl}/api/session`, { headers: cookie })
    expect(await me.json()).toMatchObject({ name: 'ops-1', role: 'operator', districts: null })
  })

  it('publishes an OpenAPI description without credentials', async () => {
    const res = await fetch(`${gw.httpUrl}/api/openapi.json`)
    expect(res.status).toBe(200)
    const spec = await res.json() as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } }
    expect(spec.openapi).toMatch(/^3\./)
    for (const path of ['/api/session', '/api/devices', '/api/devices/{id}', '/api/devices/{id}/series', '/api/alarms', '/api/alarms/{id}/ack', '/api/alarms/stream']) {
      expect(spec.paths, path).toHaveProperty([path])
    }
    expect(spec.paths['/api/alarms']).toHaveProperty(['get', 'parameters'])
    expect(Object.keys(spec.components.schemas)).toEqual(expect.arrayContaining(['Alarm', 'Device', 'Error']))
  })

  it('limits failed sign-ins per account and address, never the right secret (api-sign-in-limit.test.ts has the details)', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 22; i++) statuses.push((await post('/api/session', { name: 'crew-north', secret: `guess-${i}` })).status)
    expect(statuses).toContain(429)
    const limited = await post('/api/session', { name: 'crew-north', secret: 'guess-again' })
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).not.toBeNull()
    // The right secret still gets in, by session and by Basic.
    expect((await post('/api/session', { name: 'crew-north', secret: crewSecret })).status).toBe(200)
    expect((await fetch(`${gw.httpUrl}/api/alarms`, { headers: basic('crew-north', crewSecret) })).status).toBe(200)
  })
})
