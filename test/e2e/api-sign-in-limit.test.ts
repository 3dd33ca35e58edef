// One failed-sign-in limit for HTTP Basic (every /api route, the alarm stream) and POST /api/session,
// kept per account and client address: a guesser gets 429 beyond API_SIGNIN_PER_MIN, is counted and
// logged once, and locks out nobody: the right secret of the attacked account and other accounts
// behind the same address still sign in, and successful sign-ins count against nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, openEventStream } from '../helpers/api-client.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'

const LIMIT = 10

/** `count` times `status`. */
function times (count: number, status: number): number[] {
  return Array.from({ length: count }, () => status)
}

/** Sum of a counter's series whose labels include every given one. */
async function counter (httpUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  let total = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

describe('failed-sign-in limit', () => {
  let gw: TestGateway
  const secrets: Record<string, string> = {}
  const post = (body: unknown) =>
    fetch(`${gw.httpUrl}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  beforeAll(async () => {
    gw = await startTestGateway()
    for (const name of ['crew-a', 'crew-b', 'crew-c']) secrets[name] = (await registerCrew(gw.dataDir, name, ['north'])).secret
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => { await gw?.close(true) })

  it('answers 300 wrong Basic secrets with 401, then 429 and Retry-After; counts and logs them once', async () => {
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`${gw.httpUrl}/api/alarms`, { headers: basic('crew-a', `guess-${i}`) })
      statuses.push(res.status)
      if (res.status === 429) retryAfter = res.headers.get('retry-after')
      await res.arrayBuffer()
    }
    expect(statuses.slice(0, LIMIT)).toEqual(times(LIMIT, 401))
    expect(statuses.slice(LIMIT)).toEqual(times(300 - LIMIT, 429))
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1)
    expect(Number(retryAfter)).toBeLessThanOrEqual(60)

    expect(await counter(gw.httpUrl, 'citygw_api_sign_ins_total', { method: 'basic', outcome: 'refused' })).toBe(LIMIT)
    expect(await counter(gw.httpUrl, 'citygw_api_sign_ins_total', { method: 'basic', outcome: 'locked_out' })).toBe(300 - LIMIT)
    const about = gw.logs().filter((l) => l.name === 'crew-a' && typeof l.msg === 'string' && l.msg.startsWith('sign-in refused'))
    expect(about).toEqual([
      expect.objectContaining({ level: 30, msg: 'sign-in refused', reason: 'wrong_secret', method: 'basic', ip: '127.0.0.1' }),
      expect.objectContaining({ level: 40, msg: 'sign-in refused: too many failed sign-ins', reason: 'sign_in_limit', method: 'basic', ip: '127.0.0.1' }),
    ])
    expect(JSON.stringify(gw.logs())).not.toContain('guess-')
  })

  it('still lets in the right secret of the attacked account, by Basic, on the stream and by session', async () => {
    expect((await fetch(`${gw.httpUrl}/api/alarms`, { headers: basic('crew-a', secrets['crew-a']!) })).status).toBe(200)
    const stream = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, basic('crew-a', secrets['crew-a']!))
    expect(stream.status).toBe(200)
    await stream.close()
    expect((await fetch(`${gw.httpUrl}/api/alarms/stream`, { headers: basic('crew-a', 'wrong') })).status).toBe(429)
    const session = await post({ name: 'crew-a', secret: secrets['crew-a'] })
    expect(session.status).toBe(200)
    expect(session.headers.get('set-cookie')).toMatch(/^citygw_session=/)
    // The limit is shared: the Basic guesses count against session sign-in too.
    const wrong = await post({ name: 'crew-a', secret: 'wrong' })
    expect(wrong.status).toBe(429)
    expect(wrong.headers.get('retry-after')).not.toBeNull()
    expect(await wrong.json()).toMatchObject({ statusCode: 429, error: 'Too Many Requests' })
    expect(await counter(gw.httpUrl, 'citygw_api_sign_ins_total', { method: 'session', outcome: 'locked_out' })).toBe(1)
  })

  it('leaves other accounts behind the same address alone', async () => {
    expect((await fetch(`${gw.httpUrl}/api/devices`, { headers: basic('crew-b', secrets['crew-b']!) })).status).toBe(200)
    expect((await post({ name: 'crew-b', secret: secrets['crew-b'] })).status).toBe(200)
    expect((await fetch(`${gw.httpUrl}/api/devices`, { headers: basic('crew-b', 'typo') })).status).toBe(401)
  })

  it('limits session sign-in the same way, and counts sprayed invented names together', async () => {
    const guesses: number[] = []
    for (let i = 0; i < LIMIT + 5; i++) guesses.push((await post({ name: 'crew-c', secret: `guess-${i}` })).status)
    expect(guesses).toEqual([...times(LIMIT, 401), ...times(5, 429)])
    expect((await post({ name: 'crew-c', secret: secrets['crew-c'] })).status).toBe(200)

    const sprayed: number[] = []
    for (let i = 0; i < LIMIT + 5; i++) sprayed.push((await post({ name: `nobody-${i}`, secret: 'x' })).status)
    expect(sprayed).toEqual([...times(LIMIT, 401), ...times(5, 429)])
    // Basic with invented names and malformed headers share that count.
    expect((await fetch(`${gw.httpUrl}/api/devices`, { headers: basic('ghost', 'x') })).status).toBe(429)
    expect((await fetch(`${gw.httpUrl}/api/devices`, { headers: { authorization: 'Basic !!!' } })).status).toBe(429)
    expect((await post({ name: 'crew-b', secret: secrets['crew-b'] })).status).toBe(200)
    const spray = gw.logs().filter((l) => l.reason === 'sign_in_limit' && l.method === 'session')
    expect(spray.map((l) => l.name)).toEqual(['crew-c', `nobody-${LIMIT}`])
  })

  it('does not count successful sign-ins', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 3 * LIMIT; i++) statuses.push((await post({ name: 'crew-b', secret: secrets['crew-b'] })).status)
    expect(statuses).toEqual(times(3 * LIMIT, 200))
    expect(await counter(gw.httpUrl, 'citygw_api_sign_ins_total', { method: 'session', outcome: 'ok' })).toBeGreaterThanOrEqual(3 * LIMIT)
  })
})
