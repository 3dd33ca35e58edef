import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import { connect as connectTls, createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { WebSocket, WebSocketServer, createWebSocketStream } from 'ws'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createCertificate } from '../../../../broker/cert.ts'
import { createOutgoingGuard, raiseWriteBuffer, type OutgoingCut, type OutgoingGuard } from '../../../../broker/mqtt/guards/outgoing-buffer.ts'

const MiB = 1024 * 1024
const CHUNK = Buffer.alloc(64 * 1024, 0x61)

/** Everything a test opened, closed after it whatever happened. */
const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms) })
}

/** Polls (bounded) until `probe` is true. */
async function until (probe: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

function closeServer (server: Server): Promise<void> {
  return new Promise((resolve) => { server.close(() => { resolve() }) })
}

/** A TCP connection on 127.0.0.1: the broker's end and the peer's end. */
async function tcpPair (): Promise<{ serverSide: Socket; peer: Socket }> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanups.push(() => closeServer(server))
  const accepted = once(server, 'connection') as Promise<[Socket]>
  const peer = connect((server.address() as AddressInfo).port, '127.0.0.1')
  peer.on('error', () => {})
  cleanups.push(() => { peer.destroy() })
  await once(peer, 'connect')
  const [serverSide] = await accepted
  serverSide.on('error', () => {})
  cleanups.push(() => { serverSide.destroy() })
  // The peer reads nothing: without a 'data' listener its socket stops reading once its own
  // small buffer is full, and what follows piles up in the kernel and then in serverSide.
  peer.pause()
  return { serverSide, peer }
}

/** Writes until bytes wait in the stream itself (the kernel's buffers being full), bounded. */
function fillUntilBuffered (stream: Duplex, minBytes = 1): void {
  let written = 0
  while (stream.writableLength < minBytes) {
    if (written > 256 * MiB) throw new Error('the peer keeps reading: cannot fill the buffer')
    stream.write(CHUNK)
    written += CHUNK.length
  }
}

/** Writes until the kernel's buffers are full and bytes keep waiting in the stream itself. */
async function saturate (stream: Duplex): Promise<void> {
  for (let round = 0; round < 2000; round++) {
    fillUntilBuffered(stream)
    await sleep(10)
    if (stream.writableLength > 0) return
  }
  throw new Error('the peer keeps reading: cannot saturate the stream')
}

interface Cut { stream: Duplex; reason: OutgoingCut; bufferedBytes: number; wasDestroyed: boolean }

/** A guard whose clock the test sets; the checks themselves run on a real (short) interval. */
function guardWithClock (options: { maxBufferBytes: number; stallMs: number }): { guard: OutgoingGuard; cuts: Cut[]; clock: { ms: number }; looks: () => number } {
  const cuts: Cut[] = []
  const clock = { ms: 0 }
  let looks = 0
  const guard = createOutgoingGuard({
    ...options,
    checkIntervalMs: 5,
    now: () => { looks++; return clock.ms },
    onCut (stream, reason, bufferedBytes) { cuts.push({ stream, reason, bufferedBytes, wasDestroyed: stream.destroyed }) },
  })
  cleanups.push(() => { guard.close() })
  return { guard, cuts, clock, looks: () => looks }
}

/** Lets the guard look at its streams a few times (each look reads the clock once). */
async function letGuardLook (looks: () => number, times = 3): Promise<void> {
  const target = looks() + times
  await until(() => looks() >= target, 'the guard to look')
}

/**
 * A watched connection whose peer reads nothing, filled until bytes wait in the stream itself,
 * with a guard on a hand-moved clock (stall limit 1 s) that has looked at it once the kernel took
 * what it will.
 */
async function stalledUnderGuard (): Promise<{ serverSide: Socket; peer: Socket; guard: OutgoingGuard; cuts: Cut[]; clock: { ms: number }; looks: () => number }> {
  const { serverSide, peer } = await tcpPair()
  const watched = guardWithClock({ maxBufferBytes: 256 * MiB, stallMs: 1000 })
  watched.guard.watch(serverSide)
  fillUntilBuffered(serverSide)
  await sleep(100)
  await letGuardLook(watched.looks)
  return { serverSide, peer, ...watched }
}

describe('raiseWriteBuffer', () => {
  let certDir: string
  let tls: { cert: Buffer; key: Buffer }

  beforeAll(async () => {
    certDir = await mkdtemp(path.join(tmpdir(), 'outgoing-guard-'))
    const files = await createCertificate({ outDir: certDir, cn: 'localhost', days: 1 })
    tls = { cert: await readFile(files.cert), key: await readFile(files.key) }
  })
  afterAll(async () => { await rm(certDir, { recursive: true, force: true }) })

  /** The server's end of a TLS connection whose peer does not read. */
  async function tlsServerSide (): Promise<TLSSocket> {
    const server = createTlsServer({ cert: tls.cert, key: tls.key })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    cleanups.push(() => closeServer(server))
    const accepted = once(server, 'secureConnection') as Promise<[TLSSocket]>
    const peer = connectTls({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', servername: 'localhost', ca: tls.cert })
    peer.on('error', () => {})
    cleanups.push(() => { peer.destroy() })
    await once(peer, 'secureConnect')
    peer.pause()
    const [serverSide] = await accepted
    serverSide.on('error', () => {})
    cleanups.push(() => { serverSide.destroy() })
    return serverSide
  }

  /** The broker's stream for a WebSocket connection (as the ws listener builds it); the peer paused. */
  async function wsServerSide (): Promise<Duplex> {
    const http = createHttpServer()
    const wss = new WebSocketServer({ server: http })
    http.listen(0, '127.0.0.1')
    await once(http, 'listening')
    cleanups.push(async () => {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
      await new Promise<void>((resolve) => { http.close(() => { resolve() }) })
    })
    const accepted = once(wss, 'connection') as Promise<[WebSocket]>
    const peer = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`)
    peer.on('error', () => {})
    cleanups.push(() => { peer.terminate() })
    await once(peer, 'open')
    peer.pause()
    const [ws] = await accepted
    const stream = createWebSocketStream(ws)
    stream.on('error', () => {})
    cleanups.push(() => { stream.destroy() })
    return stream
  }

  const kinds: [string, () => Promise<Duplex>][] = [
    ['a TCP socket', async () => (await tcpPair()).serverSide],
    ['a TLS server-side socket', () => tlsServerSide()],
    ['a WebSocket stream', () => wsServerSide()],
  ]

  for (const [kind, open] of kinds) {
    it(`takes effect on ${kind}: 500 KB is written to a peer that does not read without back-pressure`, async () => {
      const plain = await open()
      await saturate(plain)
      // Without it, the same write reports back-pressure: the default high-water mark is small.
      expect(plain.writableHighWaterMark).toBeLessThan(500_000)
      expect(plain.write(Buffer.alloc(500_000))).toBe(false)

      const raised = await open()
      raiseWriteBuffer(raised, MiB)
      expect(raised.writableHighWaterMark).toBe(MiB)
      await saturate(raised)
      expect(raised.write(Buffer.alloc(500_000))).toBe(true)
      // The bytes really wait in the stream: the peer reads nothing.
      await sleep(100)
      expect(raised.writableLength).toBeGreaterThanOrEqual(500_000)
      // A write reaching the raised size reports back-pressure again.
      expect(raised.write(Buffer.alloc(MiB))).toBe(false)
    })
  }

  it('never lowers a buffer size, and leaves a stream without a writable side alone', async () => {
    const { serverSide } = await tcpPair()
    raiseWriteBuffer(serverSide, MiB)
    raiseWriteBuffer(serverSide, 64 * 1024)
    expect(serverSide.writableHighWaterMark).toBe(MiB)
    expect(() => { raiseWriteBuffer({} as Duplex, MiB) }).not.toThrow()
  })
})

describe('createOutgoingGuard', () => {
  it('admits a write while it keeps the waiting bytes below the cap; the one that would reach it cuts the stream', async () => {
    const { serverSide } = await tcpPair()
    const { guard, cuts } = guardWithClock({ maxBufferBytes: MiB, stallMs: 60_000 })
    guard.watch(serverSide)
    expect(serverSide.writableHighWaterMark).toBe(MiB)

    const admittedAt: number[] = []
    let written = 0
    while (guard.admits(serverSide, CHUNK.length)) {
      admittedAt.push(serverSide.writableLength)
      if (written > 256 * MiB) throw new Error('the peer keeps reading: cannot fill the buffer')
      // Every admitted write completes at once: it never reports back-pressure (nor waits for 'drain').
      expect(serverSide.write(CHUNK)).toBe(true)
      written += CHUNK.length
    }
    expect(admittedAt.every((bytes) => bytes + CHUNK.length < MiB)).toBe(true)
    // Bytes wait in whole 64 KiB writes: the last write admitted left room for less than one more.
    expect(admittedAt.at(-1)).toBe(MiB - 2 * CHUNK.length)
    expect(cuts).toHaveLength(1)
    expect(cuts[0]).toMatchObject({ stream: serverSide, reason: 'outgoing_buffer', bufferedBytes: MiB - CHUNK.length, wasDestroyed: true })
    expect(serverSide.destroyed).toBe(true)

    // A stream already cut is not cut nor reported again.
    expect(guard.admits(serverSide, CHUNK.length)).toBe(false)
    expect(cuts).toHaveLength(1)
  })

  it('admits a small message while a large one would reach the cap', async () => {
    const { serverSide } = await tcpPair()
    const { guard, cuts } = guardWithClock({ maxBufferBytes: MiB, stallMs: 60_000 })
    guard.watch(serverSide)
    fillUntilBuffered(serverSide, MiB / 2)
    const buffered = serverSide.writableLength
    expect(guard.admits(serverSide, MiB - buffered - 1)).toBe(true)
    expect(cuts).toEqual([])
    expect(guard.admits(serverSide, MiB - buffered)).toBe(false)
    expect(cuts).toMatchObject([{ reason: 'outgoing_buffer', bufferedBytes: buffered }])
  })

  it('cuts a stream whose waiting bytes have not shrunk for stallMs, not a moment before', async () => {
    // The kernel took what it will: the waiting bytes no longer move.
    const { serverSide, cuts, clock, looks } = await stalledUnderGuard()

    clock.ms = 999
    await letGuardLook(looks)
    expect(cuts).toEqual([])
    expect(serverSide.destroyed).toBe(false)

    const buffered = serverSide.writableLength
    clock.ms = 1000
    await until(() => cuts.length > 0, 'a write_stall cut')
    expect(cuts).toHaveLength(1)
    expect(cuts[0]).toMatchObject({ stream: serverSide, reason: 'write_stall', bufferedBytes: buffered, wasDestroyed: true })
  })

  it('counts a buffer that only grows as stalled: more written is not more read', async () => {
    const { serverSide, cuts, clock, looks } = await stalledUnderGuard()
    for (const ms of [300, 600, 900]) {
      serverSide.write(CHUNK)
      clock.ms = ms
      await letGuardLook(looks)
    }
    expect(cuts).toEqual([])
    clock.ms = 1000
    await until(() => cuts.length > 0, 'a write_stall cut')
    expect(cuts[0]?.reason).toBe('write_stall')
  })

  it('never cuts a connection with nothing waiting, however long it is idle', async () => {
    const { serverSide } = await tcpPair()
    const { guard, cuts, clock, looks } = guardWithClock({ maxBufferBytes: MiB, stallMs: 100 })
    guard.watch(serverSide)
    serverSide.write('a few bytes the kernel takes at once')
    for (const ms of [0, 1000, 10_000, 1_000_000]) {
      clock.ms = ms
      await letGuardLook(looks)
    }
    expect(cuts).toEqual([])
    expect(serverSide.destroyed).toBe(false)
    expect(guard.admits(serverSide, 1024)).toBe(true)
  })

  it('measures a new stall from when bytes wait again, not from an earlier stall that was read away', async () => {
    const { serverSide, peer, cuts, clock, looks } = await stalledUnderGuard()

    // The peer reads everything; the guard sees an empty buffer.
    peer.on('data', () => {})
    peer.resume()
    await until(() => serverSide.writableLength === 0, 'the peer to read everything')
    await letGuardLook(looks)
    peer.removeAllListeners('data')
    peer.pause()

    clock.ms = 5000
    fillUntilBuffered(serverSide)
    await sleep(100)
    await letGuardLook(looks)
    expect(cuts).toEqual([])
    clock.ms = 5999
    await letGuardLook(looks)
    expect(cuts).toEqual([])
    clock.ms = 6000
    await until(() => cuts.length > 0, 'a write_stall cut')
    expect(cuts[0]?.reason).toBe('write_stall')
  })

  /** A peer reading `readBytes` every 10 ms while the broker writes `writeBytes` every 10 ms. */
  async function steadyReader (options: { stallMs: number; backlogBytes: number; readBytes: number; writeBytes: number; forMs: number }): Promise<{ cuts: OutgoingCut[]; read: number; waitingMs: number }> {
    const { serverSide, peer } = await tcpPair()
    const cuts: OutgoingCut[] = []
    const guard = createOutgoingGuard({ maxBufferBytes: 256 * MiB, stallMs: options.stallMs, checkIntervalMs: 20, onCut (_stream, reason) { cuts.push(reason) } })
    cleanups.push(() => { guard.close() })
    guard.watch(serverSide)
    fillUntilBuffered(serverSide, options.backlogBytes)
    let read = 0
    const reader = setInterval(function readSome () { read += (peer.read(options.readBytes) as Buffer | null)?.length ?? 0 }, 10)
    const writer = setInterval(function writeSome () { if (!serverSide.destroyed) serverSide.write(Buffer.alloc(options.writeBytes)) }, 10)
    let waitingLooks = 0
    const watcher = setInterval(function countWaiting () { if (serverSide.writableLength > 0) waitingLooks++ }, 20)
    cleanups.push(() => { clearInterval(reader); clearInterval(writer); clearInterval(watcher) })
    await sleep(options.forMs)
    return { cuts, read, waitingMs: waitingLooks * 20 }
  }

  it('does not cut a peer that reads slowly but steadily and works off its backlog within stallMs', async () => {
    // ~1.6 MB/s read against ~400 KB/s written, far slower than loopback: bytes wait for it a while.
    const { cuts, read, waitingMs } = await steadyReader({ stallMs: 2000, backlogBytes: MiB, readBytes: 16 * 1024, writeBytes: 4096, forMs: 4000 })
    expect(cuts).toEqual([])
    expect(read).toBeGreaterThan(4 * MiB)
    // Bytes did wait for the peer: the stall check had something to judge.
    expect(waitingMs).toBeGreaterThanOrEqual(200)
  })

  // A writer sees a reader's progress only in steps: Node hands the writes queued behind a pending
  // one to libuv as one batch (the stream's buffer shrinks when all of it is written), and libuv
  // writes more only when the kernel wakes it (a third of the send buffer free). On loopback the
  // kernel's buffers are megabytes: a peer reading ~800 KB/s shows progress every ~1.4 s, however
  // steadily it reads, so the stall limit here sits above that step.
  it('does not cut a peer that reads steadily (~800 KB/s) while its backlog takes longer than a progress step to drain', async () => {
    const { cuts, read } = await steadyReader({ stallMs: 3000, backlogBytes: 256 * 1024, readBytes: 8 * 1024, writeBytes: 2048, forMs: 5000 })
    expect(read).toBeGreaterThan(2 * MiB)
    expect(cuts).toEqual([])
  })

  it('forgets a stream once it closes: a stalled stream that closed is not cut', async () => {
    const { serverSide, cuts, clock, looks } = await stalledUnderGuard()
    serverSide.destroy()
    await once(serverSide, 'close')
    clock.ms = 10_000
    await letGuardLook(looks)
    expect(cuts).toEqual([])
  })

  it('close() stops the timer: no more looks, no more cuts', async () => {
    const { serverSide } = await tcpPair()
    const { guard, cuts, clock, looks } = guardWithClock({ maxBufferBytes: 256 * MiB, stallMs: 1000 })
    guard.watch(serverSide)
    fillUntilBuffered(serverSide)
    await letGuardLook(looks)
    guard.close()
    const looksAtClose = looks()
    clock.ms = 10_000
    await sleep(100)
    expect(looks()).toBe(looksAtClose)
    expect(cuts).toEqual([])
    expect(serverSide.destroyed).toBe(false)
  })
})
