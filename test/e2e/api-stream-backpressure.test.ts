// Alarm-stream clients that never read (raw sockets, paused after the response headers) while a
// lamp post flaps its door alarm: they are dropped once their unsent bytes pass the cap, the metric
// and a warn log say so, the gateway's memory stays bounded, and a healthy stream still gets every
// event at once. One account holds at most API_STREAMS_PER_ACCOUNT streams.
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { basic, openEventStream, readSseBlocks, signIn } from '../helpers/api-client.ts'
import { REPO_ROOT, registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

const BUFFER_CAP = 64 * 1024
const STALLED = 10
/**
 * Alarm changes produced: ~700 bytes each, about 28 MB per stream. A paused loopback socket's kernel
 * buffers take about 4 MB; without backpressure the rest (~240 MB for ten streams) would sit in the gateway.
 */
const MESSAGES = 400
const READINGS_PER_MESSAGE = 100

async function metric (httpUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? ' ' : `{${labels}} `}`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/**
 * A stream reader that keeps only counts (the events themselves would weigh on the memory measured):
 * alarm events seen, and when the latest arrived.
 */
async function openCountingStream (url: string, headers: Record<string, string>) {
  const state = { status: 0, ready: false, alarms: 0, firstStates: [] as string[], lastAtMs: 0 }
  const stream = await readSseBlocks(url, headers, function countBlock (block) {
    if (block.includes('event: ready')) state.ready = true
    if (!block.startsWith('event: alarm')) return
    state.alarms++
    state.lastAtMs = Date.now()
    if (state.firstStates.length < 4) state.firstStates.push(/"state":"(\w+)"/.exec(block)?.[1] ?? '?')
  })
  state.status = stream.response.status
  return { state, close () { return stream.close() } }
}

/** Sends the stream request on a raw socket, waits for the response head, then stops reading. */
async function openStalledStream (port: number, headers: Record<string, string>): Promise<{ socket: Socket; head: string }> {
  const socket = connect(port, '127.0.0.1')
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  socket.write(`GET /api/alarms/stream HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n${lines}\r\n`)
  const head = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response head in 5 s')), 5000)
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer)
      socket.pause()
      resolve(chunk.toString('latin1'))
    })
    socket.once('error', reject)
  })
  return { socket, head }
}

describe('alarm stream backpressure', () => {
  let gw: TestGateway
  let port: number
  let crewSecret: string
  let lamp: MqttClient | undefined
  const sockets: Socket[] = []

  beforeAll(async () => {
    gw = await startTestGateway({
      env: { LOG_LEVEL: 'warn', ALARM_RULES_FILE: join(REPO_ROOT, 'test/e2e/fixtures/no-flapping.yaml'), API_STREAM_BUFFER_BYTES: String(BUFFER_CAP), API_STREAM_DRAIN_TIMEOUT_MS: '3000', API_STREAMS_PER_ACCOUNT: String(STALLED + 1) },
    })
    port = gw.gateway.ports.http
    crewSecret = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    const lampSecret = (await registerDevice(gw.dataDir, 'lp-1', 'lamp-post', 'north')).secret
    await gw.gateway.reloadRegistry()
    lamp = await connectDevice(gw.mqttUrl, 'lp-1', lampSecret)
  })
  afterAll(async () => {
    for (const socket of sockets) socket.destroy()
    await lamp?.endAsync(true)
    await gw?.close(true)
  })

  it('drops clients that do not read, keeps memory bounded, and delivers every event to a reader at once', async () => {
    const cookie = await signIn(gw.httpUrl, 'crew-north', crewSecret)
    for (let i = 0; i < STALLED; i++) {
      const { socket, head } = await openStalledStream(port, i % 2 === 0 ? basic('crew-north', crewSecret) : cookie)
      expect(head).toMatch(/^HTTP\/1\.1 200/)
      sockets.push(socket)
    }
    const healthy = await openCountingStream(`${gw.httpUrl}/api/alarms/stream`, cookie)
    expect(healthy.state.status).toBe(200)
    await eventually(() => healthy.state.ready, Boolean, { timeoutMs: 5000, intervalMs: 10, what: 'ready event' })

    const before = process.memoryUsage()
    let maxBuffered = 0
    const lags: number[] = []
    const lagsAfterAck: number[] = []
    let maxRss = before.rss
    const sampler = setInterval(() => { maxRss = Math.max(maxRss, process.memoryUsage().rss) }, 20)
    // 40,000 readings 1 ms apart, ending before now and within the clock-skew limit (2 min): a
    // backdated series sent at a steady pace would look like a wrong device clock.
    let ts = Date.now() - 60_000
    try {
      for (let m = 0; m < MESSAGES; m++) {
        const readings = Array.from({ length: READINGS_PER_MESSAGE }, (_, i) => ({ ts: ts++, commandedLevel: 50, supplyVoltage: 230, activePower: 40, doorOpen: i % 2 === 0 }))
        const publishedAt = Date.now()
        await lamp!.publishAsync('devices/lp-1/telemetry', JSON.stringify(readings), { qos: 1 })
        const ackedAt = Date.now()
        // The reader has this message's changes within milliseconds of its PUBACK, flood or not
        // (from the publication on, the time includes the spool's fsync, which a loaded disk stretches).
        const expected = (m + 1) * READINGS_PER_MESSAGE
        await eventually(() => healthy.state.alarms, (n) => n >= expected, { timeoutMs: 5000, intervalMs: 1, what: `alarm events of message ${m}` })
        lags.push(healthy.state.lastAtMs - publishedAt)
        lagsAfterAck.push(Math.max(0, healthy.state.lastAtMs - ackedAt))
        maxBuffered = Math.max(maxBuffered, await metric(gw.httpUrl, 'citygw_api_stream_buffered_bytes'))
      }
    } finally {
      clearInterval(sampler)
    }
    const after = process.memoryUsage()
    const produced = MESSAGES * READINGS_PER_MESSAGE
    console.info(`stream backpressure: rss ${mb(before.rss)} → peak ${mb(maxRss)} → ${mb(after.rss)} MB, heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB, peak stream buffer ${Math.round(maxBuffered / 1024)} KiB, ${produced} alarm changes, publish → reader median ${median(lags)} ms, max ${Math.max(...lags)} ms, PUBACK → reader max ${Math.max(...lagsAfterAck)} ms`)
    // Memory: the process did not grow with the backlog the stalled clients left unread.
    expect(maxRss - before.rss).toBeLessThan(100 * 1024 * 1024)

    // The reader got every change, in order, each within milliseconds of its PUBACK.
    expect(healthy.state.alarms).toBe(produced)
    expect(Math.max(...lagsAfterAck)).toBeLessThan(250)
    expect(healthy.state.firstStates).toEqual(['active', 'cleared', 'active', 'cleared'])
    await lamp!.publishAsync('devices/lp-1/telemetry', JSON.stringify({ ts: ts++, commandedLevel: 50, supplyVoltage: 230, activePower: 40, doorOpen: true }), { qos: 1 })
    const ackedAt = Date.now()
    await eventually(() => healthy.state.alarms, (n) => n > produced, { timeoutMs: 2000, intervalMs: 1, what: 'the last alarm event' })
    expect(healthy.state.lastAtMs - ackedAt).toBeLessThan(250)

    // Every stalled client was dropped: reading now, it gets what the kernel held, then the end.
    const ended = await Promise.all(sockets.map((socket) => new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000)
      socket.once('close', () => { clearTimeout(timer); resolve(true) })
      socket.on('data', () => undefined).resume()
    })))
    expect(ended).toEqual(Array(STALLED).fill(true))
    // Counted and logged; only the reader's stream is left.
    await eventually(() => metric(gw.httpUrl, 'citygw_api_streams'), (n) => n === 1, { timeoutMs: 10_000, what: 'stalled streams closed' })
    const drops = await metric(gw.httpUrl, 'citygw_api_stream_drops_total', 'reason="buffer_full"') + await metric(gw.httpUrl, 'citygw_api_stream_drops_total', 'reason="drain_timeout"')
    expect(drops).toBe(STALLED)
    const warned = gw.logs().filter((l) => l.msg === 'alarm stream closed: the client does not read')
    // Once per account and reason and period: ten drops of one account make one or two lines.
    expect(warned.length).toBeGreaterThanOrEqual(1)
    expect(warned.length).toBeLessThanOrEqual(2)
    expect(warned[0]).toMatchObject({ level: 40, name: 'crew-north', reason: expect.stringMatching(/^(buffer_full|drain_timeout)$/) as unknown })

    expect(maxBuffered).toBeLessThanOrEqual((STALLED + 1) * BUFFER_CAP)
    expect(await metric(gw.httpUrl, 'citygw_api_stream_buffered_bytes')).toBeLessThan(BUFFER_CAP)
    await healthy.close()
    await eventually(() => metric(gw.httpUrl, 'citygw_api_streams'), (n) => n === 0, { timeoutMs: 5000, what: 'healthy stream closed' })
  }, 60_000)

  it('holds at most API_STREAMS_PER_ACCOUNT streams per account (429 beyond), and frees a slot on close', async () => {
    const headers = basic('crew-north', crewSecret)
    const streams = []
    for (let i = 0; i < STALLED + 1; i++) streams.push(await openEventStream(`${gw.httpUrl}/api/alarms/stream`, headers))
    try {
      expect(streams.map((s) => s.status)).toEqual(Array(STALLED + 1).fill(200))
      const refused = await fetch(`${gw.httpUrl}/api/alarms/stream`, { headers })
      expect(refused.status).toBe(429)
      expect(refused.headers.get('retry-after')).not.toBeNull()
      expect(await metric(gw.httpUrl, 'citygw_limits_exceeded_total', 'limit="api_streams_per_account"')).toBe(1)
      await streams.pop()!.close()
      await eventually(() => metric(gw.httpUrl, 'citygw_api_streams'), (n) => n === STALLED, { timeoutMs: 5000, what: 'a closed stream released' })
      const again = await openEventStream(`${gw.httpUrl}/api/alarms/stream`, headers)
      streams.push(again)
      expect(again.status).toBe(200)
    } finally {
      await Promise.all(streams.map((s) => s.close()))
    }
  })
})

function median (values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0
}

function mb (bytes: number): number {
  return Math.round(bytes / 1024 / 1024)
}
