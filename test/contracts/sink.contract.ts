// The Sink contract (broker/influx/sink.ts), run against every implementation and a real server:
// lines written are read back; failures are classified (refused, retryable, unauthorized), also
// against a scripted HTTP stub for the statuses a real server will not produce on demand.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sink } from '../../broker/influx/sink.ts'
import { SinkError } from '../../broker/influx/sink.ts'

export interface ReadBackPoint { tsMs: number, value: number }

export interface SinkContractTarget {
  /** A sink writing to the real server. */
  sink: Sink
  /** The same implementation pointed at another base URL (stub server, dead port). */
  createSinkAt(url: string, timeoutMs: number): Sink
  /**
   * Values of `field` of `measurement` stored by the real server, sorted by time. `expectedPoints`
   * lets an eventually consistent server (VictoriaMetrics' index) be polled until they show up.
   */
  readBack(measurement: string, field: string, expectedPoints: number): Promise<ReadBackPoint[]>
  stopServer(): Promise<void>
  startServer(): Promise<void>
  /** A sink with wrong credentials against a server that checks them. */
  createSinkWithWrongCredentials(): Sink
  /** influxd refuses a malformed line with 400; VictoriaMetrics skips it and answers 204. */
  refusesMalformedLines: boolean
  /** influxd refuses a field whose type changed; VictoriaMetrics stores every field as a float. */
  refusesTypeConflicts: boolean
  /** The path and query a write must be sent to (checked on the stub), e.g. /write?db=city&precision=ms */
  expectedWritePath: string
  /** The Authorization header the stub must see (undefined = none). */
  expectedAuthorization: string | undefined
}

interface StubAnswer { status: number, headers?: Record<string, string>, body?: string, hang?: boolean }
interface StubRequest { method: string, url: string, authorization: string | undefined, body: string }

/** A scripted HTTP server: answers each request with `answer`, records what it received. */
async function startStub (): Promise<{ url: string, answer: StubAnswer, requests: StubRequest[], close(): Promise<void> }> {
  const requests: StubRequest[] = []
  const state = { answer: { status: 204 } as StubAnswer }
  const server: Server = createServer(function onStubRequest (req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', function answer () {
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body: Buffer.concat(chunks).toString('utf8') })
      const { status, headers, body, hang } = state.answer
      if (hang === true) return
      res.writeHead(status, headers)
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    get answer () { return state.answer },
    set answer (value: StubAnswer) { state.answer = value },
    requests,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

async function writeError (sink: Sink, lines: readonly string[]): Promise<SinkError> {
  try {
    await sink.write(lines)
  } catch (err) {
    expect(err).toBeInstanceOf(SinkError)
    return err as SinkError
  }
  throw new Error('write resolved but a failure was expected')
}

let measurementCounter = 0
function uniqueMeasurement (): string {
  measurementCounter++
  return `contract${measurementCounter}_${process.pid}`
}

export function describeSinkContract (title: string, setup: () => Promise<SinkContractTarget>): void {
  describe(`Sink contract: ${title}`, () => {
    let target: SinkContractTarget
    const now = Date.now()

    beforeAll(async () => { target = await setup() })
    afterAll(async () => { await target?.sink.close() })

    it('stores every line written and reads it back', async () => {
      const m = uniqueMeasurement()
      const lines = Array.from({ length: 500 }, (_, i) => `${m},device_id=d${i % 7},district=north f=${i}i,g=${i + 0.5},b=${i % 2 === 0} ${now - 10_000 + i}`)
      await target.sink.write(lines)
      const ints = await target.readBack(m, 'f', 500)
      expect(ints).toHaveLength(500)
      expect(ints.map((p) => p.value)).toEqual(Array.from({ length: 500 }, (_, i) => i))
      expect(ints[0]?.tsMs).toBe(now - 10_000)
      const floats = await target.readBack(m, 'g', 500)
      expect(floats.map((p) => p.value)).toEqual(Array.from({ length: 500 }, (_, i) => i + 0.5))
    })

    it('stores lines given as their bytes, joined by \\n (the form the spool hands over), UTF-8 included', async () => {
      const m = uniqueMeasurement()
      const lines = Array.from({ length: 50 }, (_, i) => `${m},device_id=d${i},district=Straße-Nord f=${i}i ${now - 20_000 + i}`)
      await target.sink.write(Buffer.from(lines.join('\n'), 'utf8'))
      expect((await target.readBack(m, 'f', 50)).map((p) => p.value)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    })

    it('writes nothing and resolves for an empty batch; ping answers true', async () => {
      await expect(target.sink.write([])).resolves.toBeUndefined()
      await expect(target.sink.ping()).resolves.toBe(true)
    })

    it('rewriting the same lines is harmless (idempotent)', async () => {
      const m = uniqueMeasurement()
      const lines = [`${m} f=1i ${now - 3}`, `${m} f=2i ${now - 2}`]
      await target.sink.write(lines)
      await target.sink.write(lines)
      expect((await target.readBack(m, 'f', 2)).map((p) => p.value)).toEqual([1, 2])
    })

    it('a malformed line: CSG_SINK_REFUSED with the server message (or skipped where the server is lax)', async () => {
      const m = uniqueMeasurement()
      const lines = [`${m} f=1i ${now - 5}`, `${m},broken f= ${now - 4}`, `${m} f=3i ${now - 3}`]
      if (target.refusesMalformedLines) {
        const err = await writeError(target.sink, lines)
        expect(err.code).toBe('CSG_SINK_REFUSED')
        expect(err.statusCode).toBe(400)
        expect(err.message).toMatch(/unable to parse/)
      } else {
        await target.sink.write(lines)
      }
      // Either way the good lines around it are not lost (influxd: partial write).
      expect((await target.readBack(m, 'f', 2)).map((p) => p.value)).toEqual([1, 3])
    })

    it('a field type conflict: CSG_SINK_REFUSED naming the conflict (where the server types fields)', async () => {
      const m = uniqueMeasurement()
      await target.sink.write([`${m} f=1i ${now - 10}`])
      if (target.refusesTypeConflicts) {
        const err = await writeError(target.sink, [`${m} f=1.5 ${now - 9}`])
        expect(err.code).toBe('CSG_SINK_REFUSED')
        expect(err.message).toMatch(/field type conflict/)
      } else {
        await target.sink.write([`${m} f=1.5 ${now - 9}`])
        expect((await target.readBack(m, 'f', 2)).map((p) => p.value)).toEqual([1, 1.5])
      }
    })

    it('wrong credentials: CSG_SINK_UNAUTHORIZED', async () => {
      const sink = target.createSinkWithWrongCredentials()
      try {
        const err = await writeError(sink, [`${uniqueMeasurement()} f=1i`])
        expect(err.code).toBe('CSG_SINK_UNAUTHORIZED')
        expect(err.statusCode).toBe(401)
      } finally {
        await sink.close()
      }
    })

    it('a stopped server: CSG_SINK_RETRYABLE and ping false; writes succeed once it is back', async () => {
      const m = uniqueMeasurement()
      await target.stopServer()
      try {
        const err = await writeError(target.sink, [`${m} f=1i ${now - 1}`])
        expect(err.code).toBe('CSG_SINK_RETRYABLE')
        expect(err.statusCode).toBeUndefined()
        expect(err.message).toMatch(/ECONNREFUSED|socket hang up|ECONNRESET/)
        await expect(target.sink.ping()).resolves.toBe(false)
      } finally {
        await target.startServer()
      }
      await target.sink.write([`${m} f=1i ${now - 1}`])
      expect((await target.readBack(m, 'f', 1)).map((p) => p.value)).toEqual([1])
    })

    describe('classification of HTTP answers (scripted stub server)', () => {
      let stub: Awaited<ReturnType<typeof startStub>>
      let sink: Sink
      beforeAll(async () => {
        stub = await startStub()
        sink = target.createSinkAt(stub.url, 400)
      })
      afterAll(async () => {
        await sink?.close()
        await stub?.close()
      })

      it('POSTs the lines joined by newlines to the write path with the credentials', async () => {
        stub.answer = { status: 204 }
        await sink.write(['a f=1i 1', 'b f=2i 2'])
        const request = stub.requests.at(-1)
        expect(request).toEqual({ method: 'POST', url: target.expectedWritePath, authorization: target.expectedAuthorization, body: 'a f=1i 1\nb f=2i 2' })
      })

      it.each([
        [500, 'CSG_SINK_RETRYABLE'], [502, 'CSG_SINK_RETRYABLE'], [503, 'CSG_SINK_RETRYABLE'], [429, 'CSG_SINK_RETRYABLE'],
        [408, 'CSG_SINK_RETRYABLE'], [404, 'CSG_SINK_RETRYABLE'], [400, 'CSG_SINK_REFUSED'], [413, 'CSG_SINK_REFUSED'],
        [422, 'CSG_SINK_REFUSED'], [401, 'CSG_SINK_UNAUTHORIZED'], [403, 'CSG_SINK_UNAUTHORIZED'],
      ])('HTTP %i → %s', async (status, code) => {
        stub.answer = { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: `stub says ${status}` }) }
        const err = await writeError(sink, ['a f=1i 1'])
        expect(err.code).toBe(code)
        expect(err.statusCode).toBe(status)
        expect(err.message).toContain(`stub says ${status}`)
      })

      it('keeps Retry-After (seconds or HTTP date) on a retryable answer', async () => {
        stub.answer = { status: 429, headers: { 'retry-after': '7' }, body: 'slow down' }
        const err = await writeError(sink, ['a f=1i 1'])
        expect(err.code).toBe('CSG_SINK_RETRYABLE')
        expect(err.retryAfterMs).toBe(7000)
        expect(err.message).toContain('slow down')
        stub.answer = { status: 503, headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() } }
        const dated = await writeError(sink, ['a f=1i 1'])
        expect(dated.retryAfterMs).toBeGreaterThan(55_000)
        expect(dated.retryAfterMs).toBeLessThanOrEqual(60_000)
      })

      it('a server that never answers: CSG_SINK_RETRYABLE after the timeout', async () => {
        stub.answer = { status: 204, hang: true }
        const startedMs = Date.now()
        const err = await writeError(sink, ['a f=1i 1'])
        expect(err.code).toBe('CSG_SINK_RETRYABLE')
        expect(err.message).toMatch(/no answer within 400 ms/)
        expect(Date.now() - startedMs).toBeLessThan(3000)
        await expect(sink.ping()).resolves.toBe(false)
      })

      it('a closed sink rejects CSG_SINK_RETRYABLE (the batch stays in the spool)', async () => {
        const closing = target.createSinkAt(stub.url, 5000)
        stub.answer = { status: 204, hang: true }
        const pending = writeError(closing, ['a f=1i 1'])
        await new Promise((resolve) => setTimeout(resolve, 100))
        await closing.close()
        expect((await pending).code).toBe('CSG_SINK_RETRYABLE')
        expect((await writeError(closing, ['a f=1i 1'])).code).toBe('CSG_SINK_RETRYABLE')
      })
    })
  })
}
