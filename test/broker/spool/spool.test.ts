// Enters: real files in a temp dir. Checks the spool's guarantees: fsync before resolve, group commit,
// order, recovery of torn/corrupt tails, quota, segment rolling, rewind, waking reads, SIGKILL survival.
import { spawn } from 'node:child_process'
import { appendFile, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { pino, type Logger } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isGatewayError } from '../../../broker/errors.ts'
import { openSpool, type Spool, type SpoolBatch, type SpoolOptions } from '../../../broker/spool/spool.ts'
import { spoolDefaults } from '../../helpers/default-options.ts'

const silent = pino({ level: 'silent' })
const HEADER_BYTES = 17

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'csg-spool-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

function openTest (options: Partial<SpoolOptions> = {}): Promise<Spool> {
  return openSpool({ ...spoolDefaults, dir, log: silent, ...options })
}

function captureLog (): { log: Logger, entries: Array<Record<string, unknown>> } {
  const entries: Array<Record<string, unknown>> = []
  const log = pino({ level: 'debug' }, { write: (line: string) => { entries.push(JSON.parse(line) as Record<string, unknown>) } })
  return { log, entries }
}

/** Reads (and commits unless told not to) until nothing is left; returns the lines in order. */
async function drain (spool: Spool, { maxLines = 1000, shouldCommit = true } = {}): Promise<string[]> {
  const lines: string[] = []
  for (;;) {
    const batch = await spool.read(maxLines, AbortSignal.timeout(50))
    if (batch === null) return lines
    lines.push(...batch.lines)
    if (shouldCommit) await spool.commit(batch)
  }
}

async function segmentFiles (): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.seg')).sort()
}

async function lastSegmentPath (): Promise<string> {
  const files = await segmentFiles()
  return join(dir, files.at(-1) as string)
}

function expectCode (code: string) {
  return (err: unknown): boolean => isGatewayError(err) && err.code === code
}

describe('spool', () => {
  it('round-trips appends through read and commit', async () => {
    const spool = await openTest()
    await spool.append(['m,id=a v=1i', 'm,id=a v=2i'])
    await spool.append(['m,id=b v=3i'])
    expect(spool.stats()).toMatchObject({ depthRecords: 2, appendedRecords: 2 })
    expect(spool.stats().depthBytes).toBeGreaterThan(0)
    expect(spool.stats().oldestRecordAgeMs).not.toBeNull()

    const batch = await spool.read(10)
    expect(batch?.lines).toEqual(['m,id=a v=1i', 'm,id=a v=2i', 'm,id=b v=3i'])
    expect(batch?.records).toBe(2)
    await spool.commit(batch as SpoolBatch)
    expect(spool.stats()).toMatchObject({ depthRecords: 0, depthBytes: 0, oldestRecordAgeMs: null })
    expect(await spool.read(10, AbortSignal.timeout(20))).toBeNull()
    await spool.close()
  })

  it('hands a batch as the bytes InfluxDB takes: the lines of its records joined by \\n, UTF-8, also past the 1 MiB read buffer', async () => {
    const spool = await openTest()
    const appended: string[][] = []
    // About 3 MiB in records of 1 to 3 lines, some with multi-byte characters.
    for (let i = 0; i < 3000; i++) {
      const record = Array.from({ length: 1 + (i % 3) }, (_, j) => `m,district=Straße-${i % 7} v=${i}i,note="${'é'.repeat(j)}${'x'.repeat(400)}" ${i}`)
      appended.push(record)
    }
    for (let i = 0; i < appended.length; i += 100) await Promise.all(appended.slice(i, i + 100).map((record) => spool.append(record)))
    const batch = await spool.read(1_000_000) as SpoolBatch
    const expected = appended.flat()
    expect(batch.records).toBe(3000)
    expect(batch.lineCount).toBe(expected.length)
    expect(batch.body.length).toBeGreaterThan(2 * 1024 ** 2)
    expect(batch.body.equals(Buffer.from(expected.join('\n'), 'utf8'))).toBe(true)
    expect(batch.lines).toEqual(expected)
    // maxLines counts the lines inside records: a batch stops before the record that would pass it.
    spool.rewind()
    const part = await spool.read(5) as SpoolBatch
    expect(part.lineCount).toBe(3) // records of 1 and 2 lines; the next (3 lines) would make 6
    expect(part.body.toString('utf8').split('\n')).toEqual(expected.slice(0, 3))
    await spool.close()
  })

  it('keeps records whole in batches, and returns one record even when it is larger than maxLines', async () => {
    const spool = await openTest()
    await spool.append(['a1', 'a2', 'a3'])
    await spool.append(['b1'])
    await spool.append(['c1', 'c2'])
    const first = await spool.read(2)
    expect(first?.lines).toEqual(['a1', 'a2', 'a3'])
    const second = await spool.read(2)
    expect(second?.lines).toEqual(['b1'])
    const third = await spool.read(2)
    expect(third?.lines).toEqual(['c1', 'c2'])
    await spool.close()
  })

  it('resolves each concurrent append only once its bytes are written and fsynced, with few fsyncs, in order', async () => {
    const spool = await openTest()
    const count = 2000
    const path = await lastSegmentPath()
    const checks = Array.from({ length: count }, async (_, i) => {
      await spool.append([`m,id=${i} v=${i}i`])
      // At resolution at least one group fsync happened and this record is in the file.
      expect(spool.stats().fsyncs).toBeGreaterThan(0)
      return (await stat(path)).size
    })
    const sizes = await Promise.all(checks)
    const expectedBytes = Array.from({ length: count }, (_, i) => HEADER_BYTES + `m,id=${i} v=${i}i`.length).reduce((a, b) => a + b)
    expect(Math.min(...sizes)).toBeGreaterThan(0)
    expect(spool.stats().depthBytes).toBe(expectedBytes)
    expect(spool.stats().fsyncs).toBeLessThan(count / 20)
    const lines = await drain(spool)
    expect(lines).toEqual(Array.from({ length: count }, (_, i) => `m,id=${i} v=${i}i`))
    await spool.close()
  })

  it('group-commits under load (figures printed, not asserted beyond fsyncs ≪ appends)', async () => {
    const spool = await openTest()
    const burst = 20_000
    let started = performance.now()
    await Promise.all(Array.from({ length: burst }, (_, i) => spool.append([`m,device_id=d${i % 500} v=${i}i ${i}`])))
    const burstMs = performance.now() - started
    const burstFsyncs = spool.stats().fsyncs

    // Closer to the gateway: 500 devices, each waiting for its PUBACK before publishing again.
    const producers = 500
    const perProducer = 40
    started = performance.now()
    await Promise.all(Array.from({ length: producers }, async (_, p) => {
      for (let i = 0; i < perProducer; i++) await spool.append([`m,device_id=d${p} v=${i}i`])
    }))
    const loopMs = performance.now() - started
    const loopFsyncs = spool.stats().fsyncs - burstFsyncs
    const loopAppends = producers * perProducer
    console.log(JSON.stringify({
      burst: { appends: burst, fsyncs: burstFsyncs, ms: Math.round(burstMs), appendsPerSec: Math.round(burst / burstMs * 1000) },
      producers: { producers, appends: loopAppends, fsyncs: loopFsyncs, ms: Math.round(loopMs), appendsPerSec: Math.round(loopAppends / loopMs * 1000), appendsPerFsync: Math.round(loopAppends / loopFsyncs) },
    }))
    expect(burstFsyncs).toBeLessThan(burst / 100)
    expect(loopFsyncs).toBeLessThan(loopAppends / 10)
    await spool.close()
  })

  it('keeps undelivered records and drops delivered ones across close and reopen', async () => {
    let spool = await openTest()
    for (let i = 0; i < 5; i++) await spool.append([`r${i}`])
    const batch = await spool.read(2)
    expect(batch?.lines).toEqual(['r0', 'r1'])
    await spool.commit(batch as SpoolBatch)
    const uncommitted = await spool.read(1)
    expect(uncommitted?.lines).toEqual(['r2']) // read but not committed: delivered again after reopen
    await spool.close()

    spool = await openTest()
    expect(spool.stats()).toMatchObject({ depthRecords: 3 })
    expect(spool.stats().oldestRecordAgeMs).not.toBeNull()
    expect(await drain(spool)).toEqual(['r2', 'r3', 'r4'])
    await spool.close()

    spool = await openTest()
    expect(spool.stats()).toMatchObject({ depthRecords: 0, depthBytes: 0, segments: 1 })
    expect(await drain(spool)).toEqual([])
    await spool.close()
  })

  it('flushes pending appends on close, then refuses appends and ends waiting reads', async () => {
    const spool = await openTest()
    const waiting = spool.read(10)
    const pending = Array.from({ length: 50 }, (_, i) => spool.append([`p${i}`]))
    await spool.close()
    await Promise.all(pending)
    const batch = await waiting
    // The waiting read either got the first group before close or ended with null.
    if (batch !== null) expect(batch.lines[0]).toBe('p0')
    await expect(spool.append(['late'])).rejects.toSatisfy(expectCode('CSG_SPOOL_CLOSED'))
    expect(await spool.read(10)).toBeNull()

    const reopened = await openTest()
    expect(await drain(reopened)).toEqual(Array.from({ length: 50 }, (_, i) => `p${i}`))
    await reopened.close()
  })

  it('cuts a tail torn mid-record and keeps every whole record before it', async () => {
    let spool = await openTest()
    await spool.append(['first'])
    await spool.append(['second'])
    await spool.append(['third record'])
    await spool.close()
    const path = await lastSegmentPath()
    const size = (await stat(path)).size
    await truncate(path, size - 5) // SIGKILL/power loss in the middle of the third record

    const { log, entries } = captureLog()
    spool = await openTest({ log })
    const warning = entries.find((e) => e.msg === 'spool tail cut at a torn or corrupt record')
    expect(warning).toMatchObject({ level: 40, cutBytes: HEADER_BYTES + 'third record'.length - 5, reason: 'record cut short' })
    expect((await stat(path)).size).toBe(size - HEADER_BYTES - 'third record'.length)
    // New appends land right after the cut.
    await spool.append(['after recovery'])
    expect(await drain(spool)).toEqual(['first', 'second', 'after recovery'])
    await spool.close()
  })

  it('cuts garbage after the last whole record', async () => {
    const GARBAGE = Buffer.from('\x00\x13garbage after a crash')
    let spool = await openTest()
    await spool.append(['one'])
    await spool.append(['two'])
    await spool.close()
    await appendFile(await lastSegmentPath(), GARBAGE)

    const { log, entries } = captureLog()
    spool = await openTest({ log })
    expect(entries.find((e) => e.msg === 'spool tail cut at a torn or corrupt record')).toMatchObject({ cutBytes: GARBAGE.length })
    expect(await drain(spool)).toEqual(['one', 'two'])
    await spool.close()
  })

  it('cuts the tail at a record whose CRC does not match', async () => {
    let spool = await openTest()
    await spool.append(['good 1'])
    await spool.append(['good 2'])
    await spool.append(['flipped'])
    await spool.append(['after the flip'])
    await spool.close()
    const path = await lastSegmentPath()
    const offset = 2 * HEADER_BYTES + 'good 1'.length + 'good 2'.length + HEADER_BYTES + 2
    const handle = await open(path, 'r+')
    await handle.write(Buffer.from('X'), 0, 1, offset)
    await handle.close()

    const { log, entries } = captureLog()
    spool = await openTest({ log })
    expect(entries.find((e) => e.msg === 'spool tail cut at a torn or corrupt record')).toMatchObject({ reason: 'checksum mismatch', code: 'CSG_SPOOL_CORRUPT' })
    expect(await drain(spool)).toEqual(['good 1', 'good 2'])
    await spool.close()
  })

  it('skips the rest of a segment damaged while open, logs it, and keeps delivering later segments', async () => {
    const { log, entries } = captureLog()
    const spool = await openTest({ log, segmentBytes: 60 }) // two 22-byte records per segment
    for (let i = 0; i < 6; i++) await spool.append([`rec-${i}`])
    const files = await segmentFiles()
    expect(files).toHaveLength(3)
    const handle = await open(join(dir, files[1]!), 'r+')
    await handle.write(Buffer.from('#'), 0, 1, HEADER_BYTES + 1) // bit rot in rec-2
    await handle.close()

    expect(await drain(spool)).toEqual(['rec-0', 'rec-1', 'rec-4', 'rec-5'])
    expect(entries.find((e) => e.code === 'CSG_SPOOL_CORRUPT')).toMatchObject({ level: 50, reason: 'checksum mismatch', skippedBytes: 2 * (HEADER_BYTES + 'rec-2'.length) })
    expect(spool.stats()).toMatchObject({ depthRecords: 0, depthBytes: 0 })
    await spool.close()
  })

  it('refuses appends past the quota without writing them, and takes them again once commits free room', async () => {
    const recordBytes = HEADER_BYTES + 'x-0'.length
    const spool = await openTest({ maxBytes: recordBytes * 3 })
    await spool.append(['x-0'])
    await spool.append(['x-1'])
    await spool.append(['x-2'])
    const sizeBefore = (await stat(await lastSegmentPath())).size
    await expect(spool.append(['x-3'])).rejects.toSatisfy(expectCode('CSG_SPOOL_FULL'))
    // Appends still queued count too: three concurrent appends into one free slot → one is taken.
    expect((await stat(await lastSegmentPath())).size).toBe(sizeBefore)

    const batch = await spool.read(1)
    await spool.commit(batch as SpoolBatch)
    const racing = await Promise.allSettled([spool.append(['y-0']), spool.append(['y-1'])])
    expect(racing.map((r) => r.status)).toEqual(['fulfilled', 'rejected'])
    expect(await drain(spool)).toEqual(['x-1', 'x-2', 'y-0'])
    await spool.append(['z-0'])
    expect(await drain(spool)).toEqual(['z-0'])
    await spool.close()
  })

  it('rolls segments and deletes them once delivered', async () => {
    let spool = await openTest({ segmentBytes: 100 })
    for (let i = 0; i < 30; i++) await spool.append([`record-${String(i).padStart(3, '0')}`])
    const files = await segmentFiles()
    expect(files.length).toBeGreaterThan(5)
    expect(files.every((name) => /^\d{20}\.seg$/.test(name))).toBe(true)
    expect(spool.stats().segments).toBe(files.length)

    // Deliver the first half: the fully delivered segments go.
    const half = await spool.read(15)
    await spool.commit(half as SpoolBatch)
    const remaining = await segmentFiles()
    expect(remaining.length).toBeLessThan(files.length)
    expect(remaining[0]! > files[0]!).toBe(true)
    await spool.close()

    spool = await openTest({ segmentBytes: 100 })
    expect(await drain(spool, { maxLines: 7 })).toEqual(Array.from({ length: 15 }, (_, i) => `record-${String(i + 15).padStart(3, '0')}`))
    expect(await segmentFiles()).toHaveLength(1)
    await spool.close()
  })

  it('re-delivers from the committed cursor after rewind', async () => {
    const spool = await openTest()
    for (let i = 0; i < 4; i++) await spool.append([`r${i}`])
    const first = await spool.read(2)
    await spool.commit(first as SpoolBatch)
    const failed = await spool.read(2)
    expect(failed?.lines).toEqual(['r2', 'r3'])
    spool.rewind() // the InfluxDB write failed
    const again = await spool.read(10)
    expect(again?.lines).toEqual(['r2', 'r3'])
    await spool.commit(again as SpoolBatch)
    await spool.commit(failed as SpoolBatch) // covers what is already committed: a no-op
    expect(spool.stats().depthRecords).toBe(0)
    await spool.close()
  })

  it('refuses a batch committed out of read order', async () => {
    const spool = await openTest()
    await spool.append(['a'])
    await spool.append(['b'])
    await spool.read(1)
    const second = await spool.read(1)
    await expect(spool.commit(second as SpoolBatch)).rejects.toThrow(/order/)
    await spool.close()
  })

  it('wakes a waiting read promptly on append, and resolves null on abort', async () => {
    const spool = await openTest()
    const waiting = spool.read(10)
    await new Promise((resolve) => setTimeout(resolve, 30))
    const appendedAt = performance.now()
    await spool.append(['wake up'])
    const batch = await waiting
    const wakeMs = performance.now() - appendedAt
    expect(batch?.lines).toEqual(['wake up'])
    console.log(JSON.stringify({ readWakeAfterAppendMs: Number(wakeMs.toFixed(2)) }))
    expect(wakeMs).toBeLessThan(1000)

    const controller = new AbortController()
    const aborted = spool.read(10, controller.signal)
    setTimeout(() => controller.abort(), 20)
    expect(await aborted).toBeNull()
    await spool.close()
  })

  it('wakes a waiting read when rewind makes data available again', async () => {
    const spool = await openTest()
    await spool.append(['only'])
    expect((await spool.read(10))?.lines).toEqual(['only'])
    const waiting = spool.read(10)
    spool.rewind()
    expect((await waiting)?.lines).toEqual(['only'])
    await spool.close()
  })

  it('reports the age of the oldest undelivered record, also after reopen', async () => {
    let spool = await openTest()
    await spool.append(['old'])
    await new Promise((resolve) => setTimeout(resolve, 30))
    const newAppendedAt = Date.now()
    await spool.append(['new'])
    expect(spool.stats().oldestRecordAgeMs).toBeGreaterThanOrEqual(25)
    const first = await spool.read(1)
    await spool.commit(first as SpoolBatch)
    // Now the age is that of 'new' (appended after newAppendedAt), however slow the machine is.
    expect(spool.stats().oldestRecordAgeMs).toBeLessThanOrEqual(Date.now() - newAppendedAt)
    await spool.close()
    spool = await openTest()
    expect(spool.stats().oldestRecordAgeMs).not.toBeNull()
    await spool.close()
  })

  it('keeps the cursor in two fixed slots: a torn slot loses to the other, both torn re-deliver everything', async () => {
    let spool = await openTest()
    await spool.append(['a'])
    await spool.append(['b'])
    await spool.append(['c'])
    await spool.commit((await spool.read(1)) as SpoolBatch) // a
    await spool.commit((await spool.read(1)) as SpoolBatch) // b
    await spool.close()
    const file = join(dir, 'cursor.slots')
    const slots = await readFile(file)
    expect(slots.length).toBe(64) // preallocated: committing never needs new disk space
    // Tear the newer slot (the one holding "after b"): the older one ("after a") wins.
    const newer = slots.readBigUInt64LE(4) > slots.readBigUInt64LE(36) ? 0 : 32
    const torn = Buffer.from(slots)
    torn[newer + 20] = (torn[newer + 20] ?? 0) ^ 0xff
    await writeFile(file, torn)
    spool = await openTest()
    expect(await drain(spool)).toEqual(['b', 'c'])
    await spool.close()
    await writeFile(file, Buffer.alloc(64, 0x20))
    spool = await openTest()
    expect(await drain(spool)).toEqual(['a', 'b', 'c']) // at-least-once: duplicates, never loss
    await spool.close()
  })

  it('with the default settings, megabytes of appends are taken into one segment, none refused', async () => {
    const spool = await openTest()
    const line = 'x'.repeat(1024)
    for (let i = 0; i < 64; i++) {
      await Promise.all(Array.from({ length: 32 }, () => spool.append([line])))
    }
    const stats = spool.stats()
    expect(stats.depthRecords).toBe(64 * 32)
    expect(stats.depthBytes).toBeGreaterThan(2 * 1024 ** 2)
    expect(stats.segments).toBe(1)
    await spool.close()
  })

  it('validates options', async () => {
    await expect(openTest({ maxBytes: 0 })).rejects.toSatisfy(expectCode('CSG_CONFIG_INVALID'))
    await expect(openTest({ groupCommitMs: -1 })).rejects.toSatisfy(expectCode('CSG_CONFIG_INVALID'))
    const spool = await openTest({ groupCommitMs: 5 })
    await Promise.all([spool.append(['g1']), spool.append(['g2'])])
    expect(spool.stats().fsyncs).toBe(1)
    await expect(spool.append([])).rejects.toThrow(TypeError)
    await spool.close()
  })

  it('a small group waits up to groupCommitMs for company; 32 waiting appends are written at once', async () => {
    const spool = await openTest({ groupCommitMs: 500 })
    // Devices sending one message at a time: the trickle shares one fsync.
    const trickle: Promise<void>[] = []
    for (let i = 0; i < 4; i++) {
      trickle.push(spool.append([`t${i}`]))
      await sleep(5)
    }
    await Promise.all(trickle)
    expect(spool.stats().fsyncs).toBe(1)
    // A group that is large enough does not wait out the window.
    const window = sleep(250).then(() => 'window')
    const burst = Promise.all(Array.from({ length: 32 }, (_, i) => spool.append([`b${i}`]))).then(() => 'burst')
    expect(await Promise.race([burst, window])).toBe('burst')
    expect(spool.stats().fsyncs).toBe(2)
    await spool.close()
  })

  it('loses no acknowledged record when the appending process is SIGKILLed', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('fixtures/spool-append-child.ts', import.meta.url)), dir], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let output = ''
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => { resolve(signal) }))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`child acknowledged too few appends: ${output.length} bytes of output`)) }, 20_000)
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8')
        if (output.split('\n').length > 3000) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    child.kill('SIGKILL')
    expect(await exited).toBe('SIGKILL')
    const acknowledged = output.split('\n').slice(0, -1).map(Number) // the last piece may be a cut line

    const spool = await openTest()
    const ids = new Set((await drain(spool, { maxLines: 5000 })).map((line) => Number(/id=(\d+)/.exec(line)?.[1])))
    const missing = acknowledged.filter((id) => !ids.has(id))
    console.log(JSON.stringify({ sigkill: { acknowledged: acknowledged.length, recovered: ids.size, missing: missing.length } }))
    expect(missing).toEqual([])
    await spool.close()
  })

  it('delivers every appended record exactly once in order over any appends, reads, commits, rewinds and reopens', async () => {
    type Op =
      | { kind: 'append', lines: number }
      | { kind: 'read', maxLines: number }
      | { kind: 'commit' }
      | { kind: 'rewind' }
      | { kind: 'reopen' }
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), lines: fc.integer({ min: 1, max: 4 }) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), maxLines: fc.integer({ min: 1, max: 8 }) }) },
      { weight: 3, arbitrary: fc.constant({ kind: 'commit' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'rewind' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
    )

    await fc.assert(fc.asyncProperty(fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 40, max: 400 }), async (ops, segmentBytes) => {
      const runDir = await mkdtemp(join(tmpdir(), 'csg-spool-prop-'))
      const options = { ...spoolDefaults, dir: runDir, log: silent, segmentBytes }
      let spool = await openSpool(options)
      const records: string[][] = []
      let readIdx = 0
      let committedIdx = 0
      let uncommitted: Array<{ batch: SpoolBatch, endIdx: number }> = []

      const readExpectingModel = async (maxLines: number): Promise<void> => {
        if (readIdx === records.length) {
          expect(await spool.read(maxLines, AbortSignal.abort())).toBeNull()
          return
        }
        let endIdx = readIdx
        let count = 0
        while (endIdx < records.length && (endIdx === readIdx || count + records[endIdx]!.length <= maxLines)) {
          count += records[endIdx]!.length
          endIdx++
          if (count >= maxLines) break
        }
        const batch = await spool.read(maxLines)
        expect(batch?.lines).toEqual(records.slice(readIdx, endIdx).flat())
        uncommitted.push({ batch: batch as SpoolBatch, endIdx })
        readIdx = endIdx
      }

      try {
        for (const op of ops) {
          switch (op.kind) {
            case 'append': {
              const record = Array.from({ length: op.lines }, (_, j) => `r${records.length} l${j}`)
              await spool.append(record)
              records.push(record)
              break
            }
            case 'read':
              await readExpectingModel(op.maxLines)
              break
            case 'commit': {
              const next = uncommitted.shift()
              if (next !== undefined) {
                await spool.commit(next.batch)
                committedIdx = Math.max(committedIdx, next.endIdx)
              }
              break
            }
            case 'rewind':
              spool.rewind()
              readIdx = committedIdx
              uncommitted = []
              break
            case 'reopen':
              await spool.close()
              spool = await openSpool(options)
              readIdx = committedIdx
              uncommitted = []
              break
          }
          expect(spool.stats().depthRecords).toBe(records.length - committedIdx)
        }
        // Finally deliver the rest: the committed sequence must be every record exactly once.
        for (const { batch, endIdx } of uncommitted) {
          await spool.commit(batch)
          committedIdx = endIdx
        }
        uncommitted = []
        while (readIdx < records.length) {
          await readExpectingModel(5)
          const { batch, endIdx } = uncommitted.shift()!
          await spool.commit(batch)
          committedIdx = endIdx
        }
        expect(committedIdx).toBe(records.length)
        expect(spool.stats()).toMatchObject({ depthRecords: 0, depthBytes: 0 })
        await spool.close()
        spool = await openSpool(options)
        expect(await spool.read(1, AbortSignal.abort())).toBeNull()
      } finally {
        await spool.close()
        await rm(runDir, { recursive: true, force: true })
      }
    }), { numRuns: 100 })
  })
})
