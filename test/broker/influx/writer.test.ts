// The writer between the real spool and a real influxd 1.6: drains, survives an outage without
// losing or duplicating points, isolates a type-conflicting line, closes promptly mid-outage.
// A scripted sink covers what a real server will not do on demand (401, Retry-After, many bad lines).
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SinkError, type Sink } from '../../../broker/influx/sink.ts'
import { createInfluxV1Sink } from '../../../broker/influx/sink-influx-v1.ts'
import { openSpool, type Spool } from '../../../broker/spool/spool.ts'
import { backoffDelayMs } from '../../../broker/backoff.ts'
import { createWriter, type Writer, type WriterOptions } from '../../../broker/influx/writer.ts'
import type { QuarantineEntry } from '../../../broker/influx/quarantine.ts'
import { createFileQuarantine } from '../../../broker/influx/quarantine-file.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../../helpers/influxdb.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'
import { spoolDefaults, writerDefaults } from '../../helpers/default-options.ts'

interface LogEntry { level: number, msg: string, [key: string]: unknown }

function captureLog (): { log: Logger, entries: LogEntry[], count(msg: string): number } {
  const entries: LogEntry[] = []
  const log = pino({ level: 'debug' }, { write (line: string) { entries.push(JSON.parse(line) as LogEntry) } })
  return { log, entries, count: (msg) => entries.filter((e) => e.msg === msg).length }
}

async function waitFor (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Harness { spool: Spool, writer: Writer, dir: string, quarantinePath: string, logs: ReturnType<typeof captureLog>, counters: { written: number, retries: number, quarantined: number, writes: number } }

/** A fresh spool in a temp dir and a writer over it; both closed after the test. */
async function harness (sink: Sink, overrides: Partial<WriterOptions> = {}): Promise<Harness> {
  const dir = await makeTempDir('csg-writer-')
  const logs = captureLog()
  const spool = await openSpool({ ...spoolDefaults, dir: join(dir, 'spool'), log: logs.log })
  const counters = { written: 0, retries: 0, quarantined: 0, writes: 0 }
  const quarantinePath = join(dir, 'quarantine.jsonl')
  const writer = createWriter({
    ...writerDefaults,
    spool,
    sink,
    log: logs.log,
    quarantine: createFileQuarantine(quarantinePath),
    retryInitialMs: 20,
    retryMaxMs: 200,
    metrics: {
      onWrite (lines, seconds) {
        counters.written += lines
        counters.writes++
        expect(seconds).toBeGreaterThanOrEqual(0)
      },
      onRetry () { counters.retries++ },
      onQuarantine (lines) { counters.quarantined += lines },
    },
    ...overrides,
  })
  cleanups.push(async () => {
    await writer.close()
    await spool.close()
    await sink.close()
    await removeTempDir(dir)
  })
  return { spool, writer, dir, quarantinePath, logs, counters }
}

async function readQuarantine (path: string): Promise<QuarantineEntry[]> {
  const text = await readFile(path, 'utf8').catch(() => '')
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as QuarantineEntry)
}

const base = Date.now() - 60_000
/** `records` spool records of `linesPerRecord` points each, distinct timestamps: `count` = points. */
async function appendPoints (spool: Spool, measurement: string, records: number, linesPerRecord: number, offset = 0): Promise<number> {
  for (let r = 0; r < records; r++) {
    const lines = Array.from({ length: linesPerRecord }, (_, i) => {
      const n = offset + r * linesPerRecord + i
      return `${measurement},device_id=lamp-${n % 10},district=north f=${n}i ${base + n}`
    })
    await spool.append(lines)
  }
  return records * linesPerRecord
}

describe('writer → real influxd 1.6 with the real spool', () => {
  let influx: InfluxDb1Server
  const silent = pino({ level: 'silent' })
  const sinkFor = (): Sink => createInfluxV1Sink({ url: influx.url, database: 'city', timeoutMs: 2000, log: silent })

  async function countPoints (measurement: string): Promise<number> {
    const results = await influx.query(`SELECT count(*) FROM "${measurement}"`, 'city')
    const value = results[0]?.series?.[0]?.values[0]?.[1]
    return typeof value === 'number' ? value : 0
  }

  beforeAll(async () => { influx = await startInfluxDb1({ databases: ['city'] }) })
  afterAll(async () => { await influx?.close() })

  it('drains everything in the spool, in batches, and reports connected', async () => {
    const h = await harness(sinkFor(), { batchLines: 500 })
    const total = await appendPoints(h.spool, 'drain', 200, 10)
    h.writer.start()
    await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
    expect(await countPoints('drain')).toBe(total)
    expect(h.counters.written).toBe(total)
    expect(h.counters.writes).toBeGreaterThanOrEqual(4)
    expect(h.counters.retries).toBe(0)
    const state = h.writer.state()
    expect(state.connected).toBe(true)
    expect(state.lastWriteMs).toBeGreaterThan(Date.now() - 10_000)
    // Keeps following the spool after it ran dry.
    await appendPoints(h.spool, 'drain', 5, 10, total)
    await waitFor('late records written', async () => await countPoints('drain') === total + 50)
  })

  it('spools through an outage, retries, and stores every point exactly once when influxd is back', async () => {
    const h = await harness(sinkFor(), { batchLines: 1000 })
    await influx.stop()
    try {
      h.writer.start()
      const first = await appendPoints(h.spool, 'outage', 100, 20)
      await waitFor('retries', () => h.counters.retries >= 5)
      const second = await appendPoints(h.spool, 'outage', 100, 20, first)
      expect(h.spool.stats().depthRecords).toBe(200)
      const state = h.writer.state()
      expect(state.connected).toBe(false)
      expect(state.lastError).toMatch(/ECONNREFUSED/)
      expect(h.logs.count('influx unreachable, spooling')).toBe(1)
      await influx.start()
      await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
      expect(await countPoints('outage')).toBe(first + second)
      expect(h.writer.state().connected).toBe(true)
    } finally {
      await influx.start()
    }
    expect(h.logs.count('influx unreachable, spooling')).toBe(1)
    expect(h.logs.count('influx back, draining')).toBe(1)
    const back = h.logs.entries.find((e) => e.msg === 'influx back, draining')
    expect(back?.depthRecords).toBeGreaterThan(0)
  })

  it('stores the 1,000 good lines of a batch, quarantines the one type-conflicting line, empties the spool', async () => {
    const sink = sinkFor()
    await sink.write([`conflict,device_id=lamp-0,district=north f=0i ${base - 1}`]) // f is an integer from now on
    const h = await harness(sink, { batchLines: 5000 })
    const good = await appendPoints(h.spool, 'conflict', 5, 100)
    const badLine = `conflict,device_id=lamp-x,district=north f=1.5 ${base + 100_000}`
    await h.spool.append([badLine])
    await appendPoints(h.spool, 'conflict', 5, 100, 500)
    h.writer.start()
    await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
    expect(await countPoints('conflict')).toBe(good * 2 + 1) // + the seed point
    const quarantined = await readQuarantine(h.quarantinePath)
    expect(quarantined).toHaveLength(1)
    expect(quarantined[0]?.line).toBe(badLine)
    expect(quarantined[0]?.reason).toMatch(/field type conflict/)
    expect(quarantined[0]?.tsMs).toBeGreaterThan(Date.now() - 60_000)
    expect(h.counters.quarantined).toBe(1)
    expect(h.counters.retries).toBe(0)
    expect(h.logs.count('line refused by influx, quarantined')).toBe(1)
    expect(h.writer.state().connected).toBe(true)
  })

  it('splits a batch the server refuses as too large (413) until it fits, storing every point and quarantining none', async () => {
    const small = await startInfluxDb1({ databases: ['city'], maxBodyBytes: 20_000 })
    cleanups.push(() => small.close())
    const sink = createInfluxV1Sink({ url: small.url, database: 'city', timeoutMs: 2000, log: silent })
    const h = await harness(sink, { batchLines: 20_000 })
    const total = await appendPoints(h.spool, 'toolarge', 40, 50) // ≈ 140 KB in one batch
    h.writer.start()
    await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
    const results = await small.query('SELECT count(*) FROM "toolarge"', 'city')
    expect(results[0]?.series?.[0]?.values[0]?.[1]).toBe(total)
    expect(h.counters.written).toBe(total)
    expect(h.counters.writes).toBeGreaterThan(1)
    expect(h.counters.quarantined).toBe(0)
    expect(await readQuarantine(h.quarantinePath)).toEqual([])
  })

  it('close() during an outage returns promptly and loses nothing: the records are still in the reopened spool', async () => {
    const dir = await makeTempDir('csg-writer-close-')
    cleanups.push(() => removeTempDir(dir))
    const spoolDir = join(dir, 'spool')
    const sink = sinkFor()
    const spool = await openSpool({ ...spoolDefaults, dir: spoolDir, log: silent })
    let retries = 0
    const writer = createWriter({
      ...writerDefaults, spool, sink, log: silent, quarantine: createFileQuarantine(join(dir, 'q.jsonl')), retryInitialMs: 1000, retryMaxMs: 30_000,
      metrics: { onRetry () { retries++ } },
    })
    await influx.stop()
    try {
      writer.start()
      await appendPoints(spool, 'closing', 30, 10)
      await waitFor('a retry', () => retries >= 2)
      const startedMs = Date.now()
      await writer.close()
      expect(Date.now() - startedMs).toBeLessThan(1000)
      await spool.close()
      await sink.close()
    } finally {
      await influx.start()
    }
    const reopened = await openSpool({ ...spoolDefaults, dir: spoolDir, log: silent })
    try {
      expect(reopened.stats().depthRecords).toBe(30)
      const batch = await reopened.read(10_000)
      expect(batch?.lines).toHaveLength(300)
      expect(batch?.lines[0]).toMatch(/^closing,device_id=lamp-0,district=north f=0i /)
    } finally {
      await reopened.close()
    }
    expect(await countPoints('closing')).toBe(0)
  })
})

/** A sink answering from a script: each write calls `answer(lines)`; throws what it returns. */
function scriptedSink (answer: (lines: readonly string[], attempt: number) => SinkError | undefined): Sink & { stored: string[], attempts: number[] } {
  const stored: string[] = []
  const attempts: number[] = []
  return {
    name: 'scripted',
    stored,
    attempts,
    write (written) {
      attempts.push(Date.now())
      const lines = Buffer.isBuffer(written) ? written.toString('utf8').split('\n') : written
      const err = answer(lines, attempts.length)
      if (err !== undefined) return Promise.reject(err)
      stored.push(...lines)
      return Promise.resolve()
    },
    ping: () => Promise.resolve(true),
    close: () => Promise.resolve(),
  }
}

describe('writer with a scripted sink', () => {
  it('isolates several refused lines by halving, quarantines exactly them, stores the rest', async () => {
    const sink = scriptedSink((lines) => lines.some((l) => l.includes('bad'))
      ? new SinkError('CSG_SINK_REFUSED', 'InfluxDB refused the batch (400): unable to parse', { statusCode: 400 })
      : undefined)
    const h = await harness(sink, { batchLines: 1000 })
    const lines = Array.from({ length: 997 }, (_, i) => [13, 500, 501, 996].includes(i) ? `bad line ${i}` : `m f=${i}i ${i}`)
    await h.spool.append(lines.slice(0, 500))
    await h.spool.append(lines.slice(500))
    h.writer.start()
    await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
    expect(sink.stored).toEqual(lines.filter((l) => !l.includes('bad')))
    expect((await readQuarantine(h.quarantinePath)).map((e) => e.line)).toEqual(['bad line 13', 'bad line 500', 'bad line 501', 'bad line 996'])
    expect(h.counters.quarantined).toBe(4)
    expect(sink.attempts.length).toBeLessThan(100) // O(bad · log n), not one request per line
  })

  it('pauses on 401 with one error log, retries slowly, never drops, and resumes', async () => {
    const sink = scriptedSink((_lines, attempt) => attempt <= 3
      ? new SinkError('CSG_SINK_UNAUTHORIZED', 'InfluxDB refused the credentials (401): authorization failed', { statusCode: 401 })
      : undefined)
    const h = await harness(sink, { unauthorizedRetryMs: 150 })
    await h.spool.append(['m f=1i 1', 'm f=2i 2'])
    h.writer.start()
    await waitFor('first refusal', () => sink.attempts.length >= 1)
    expect(h.writer.state()).toMatchObject({ connected: false, lastError: expect.stringMatching(/authorization failed/) as unknown })
    await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
    expect(sink.stored).toEqual(['m f=1i 1', 'm f=2i 2'])
    const gaps = sink.attempts.slice(1).map((t, i) => t - (sink.attempts[i] ?? 0))
    for (const gap of gaps.slice(0, 3)) expect(gap).toBeGreaterThanOrEqual(140)
    expect(h.logs.count('influx refused the credentials, writing paused')).toBe(1)
    expect(h.logs.entries.find((e) => e.msg === 'influx refused the credentials, writing paused')?.level).toBe(50)
    expect(h.logs.count('influx back, draining')).toBe(1)
    expect(h.counters.retries).toBe(3)
    expect(h.writer.state().connected).toBe(true)
  })

  it('honours Retry-After on a retryable answer', async () => {
    const sink = scriptedSink((_lines, attempt) => attempt === 1
      ? new SinkError('CSG_SINK_RETRYABLE', 'InfluxDB could not take the batch (429): slow down', { statusCode: 429, retryAfterMs: 400 })
      : undefined)
    const h = await harness(sink)
    await h.spool.append(['m f=1i 1'])
    h.writer.start()
    await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
    expect(sink.attempts).toHaveLength(2)
    expect((sink.attempts[1] ?? 0) - (sink.attempts[0] ?? 0)).toBeGreaterThanOrEqual(390)
  })

  it('keeps going when a metric hook throws', async () => {
    const sink = scriptedSink(() => undefined)
    const h = await harness(sink, { metrics: { onWrite () { throw new Error('metrics broke') } } })
    await h.spool.append(['m f=1i 1'])
    await h.spool.append(['m f=2i 2'])
    h.writer.start()
    await waitFor('spool drained', () => h.spool.stats().depthRecords === 0)
    expect(sink.stored).toEqual(['m f=1i 1', 'm f=2i 2'])
    expect(h.logs.count('writer metric hook threw')).toBeGreaterThanOrEqual(1)
  })

  it('writes a backlog in full batches at once, then lets a short batch wait for the flush interval', async () => {
    const sink = scriptedSink(() => undefined)
    const h = await harness(sink, { batchLines: 2, flushIntervalMs: 60_000 })
    for (let i = 1; i <= 5; i++) await h.spool.append([`m f=${i}i ${i}`])
    h.writer.start()
    // Two full batches and the short rest go out back to back: only a short batch waits.
    await waitFor('backlog written', () => sink.stored.length === 5, 5000)
    expect(sink.attempts).toHaveLength(3)
    await h.spool.append(['m f=6i 6'])
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(sink.stored).toHaveLength(5) // gathering until the interval is over (60 s here)
    expect(h.spool.stats().depthRecords).toBe(1) // and durable in the spool meanwhile
    await h.writer.close() // closing ends the wait; the record stays for the next start
    expect(h.spool.stats().depthRecords).toBe(1)
  })

  it('backoffDelayMs: full jitter within [0, min(cap, initial·2^n)]', () => {
    expect(backoffDelayMs(0, 100, 30_000, () => 0.999)).toBe(99)
    expect(backoffDelayMs(3, 100, 30_000, () => 0.5)).toBe(400)
    expect(backoffDelayMs(20, 100, 30_000, () => 0.999)).toBe(29_970)
    expect(backoffDelayMs(5000, 100, 30_000, () => 0)).toBe(0)
  })
})
