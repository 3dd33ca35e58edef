// Enters: a real segment file behind a handle that fails on demand (write, datasync, truncate).
// Checks the failed-write path: the group is refused, its partial bytes cut back, later groups land
// on a record boundary; ENOSPC refuses as CSG_SPOOL_FULL; an unrepairable file refuses every later append.
import { mkdtemp, open, readFile, rm, stat, type FileHandle } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isGatewayError } from '../../../broker/errors.ts'
import { SpoolAppender } from '../../../broker/spool/appender.ts'
import { segmentPath } from '../../../broker/spool/files.ts'
import { decodeRecord, encodeRecord, recordLines, type DecodedRecord } from '../../../broker/spool/format.ts'
import { SpoolLedger } from '../../../broker/spool/ledger.ts'

interface Faults { write?: NodeJS.ErrnoException, datasync?: NodeJS.ErrnoException, truncate?: NodeJS.ErrnoException }

function ioError (code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected`), { code })
}

/** A real FileHandle whose write (after writing half its bytes), datasync or truncate throw while a fault is set. */
function faultyHandle (real: FileHandle, faults: Faults): FileHandle {
  function tornWrite (err: NodeJS.ErrnoException) {
    return async function writeHalfThenFail (buffer: Buffer, offset: number, length: number, position: number): Promise<never> {
      await real.write(buffer, offset, Math.ceil(length / 2), position)
      throw err
    }
  }
  function failing (err: NodeJS.ErrnoException) {
    return function failingCall (): Promise<never> { return Promise.reject(err) }
  }
  return new Proxy(real, {
    get (target, prop) {
      if (prop === 'write' && faults.write !== undefined) return tornWrite(faults.write)
      if (prop === 'datasync' && faults.datasync !== undefined) return failing(faults.datasync)
      if (prop === 'truncate' && faults.truncate !== undefined) return failing(faults.truncate)
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

let dir: string
let path: string
let faults: Faults
let ledger: SpoolLedger
let appender: SpoolAppender
let logged: string[]

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'csg-spool-appender-'))
  path = segmentPath(dir, 1)
  faults = {}
  logged = []
  ledger = new SpoolLedger([{ seq: 1, size: 0 }], { seq: 1, offset: 0 }, 0, null)
  const log = pino({ level: 'debug' }, { write: function collect (line: string) { logged.push((JSON.parse(line) as { msg: string }).msg) } })
  appender = new SpoolAppender({
    dir, segmentBytes: 1024 ** 2, groupCommitMs: 0, ledger, log,
    writer: faultyHandle(await open(path, 'w+'), faults),
    onDurable: function ignoreDurable () {},
  })
})
afterEach(async () => {
  await appender.drain()
  await appender.close().catch(function ignoreCloseError () {})
  await rm(dir, { recursive: true, force: true })
})

function append (text: string): Promise<void> {
  return appender.append(encodeRecord([text], Date.now()), Date.now())
}

async function recordsOnDisk (): Promise<string[]> {
  const bytes = await readFile(path)
  const lines: string[] = []
  for (let at = 0; at < bytes.length;) {
    const record = decodeRecord(bytes, at) as DecodedRecord
    lines.push(...recordLines(record.payload))
    at += record.bytes
  }
  return lines
}

describe('spool appender: failed writes', () => {
  it('refuses the whole group, cuts its partial bytes back, and writes the next group on a record boundary', async () => {
    await append('before')
    const sizeBefore = (await stat(path)).size
    faults.write = ioError('EIO')
    const group = await Promise.allSettled([append('lost 1'), append('lost 2'), append('lost 3')])
    expect(group.map(function reasonOf (r) { return r.status === 'rejected' ? r.reason as unknown : r.status })).toEqual([faults.write, faults.write, faults.write])
    expect((await stat(path)).size).toBe(sizeBefore)
    expect(ledger.last.size).toBe(sizeBefore)
    expect(ledger.durableOrdinal).toBe(1)
    expect(appender.pendingBytes).toBe(0)
    expect(appender.failure).toBeNull()
    expect(logged).toContain('spool append failed; group refused')

    delete faults.write
    await append('after')
    expect(await recordsOnDisk()).toEqual(['before', 'after'])
    expect(appender.appendedRecords).toBe(2)
  })

  it('refuses as CSG_SPOOL_FULL when the disk is full, and recovers once it has room', async () => {
    faults.write = ioError('ENOSPC')
    const refused = await append('no room').then(function unexpected () { return null }, function caught (err: unknown) { return err })
    expect(isGatewayError(refused, 'CSG_SPOOL_FULL')).toBe(true)
    expect((refused as Error).cause).toBe(faults.write)
    expect((await stat(path)).size).toBe(0)
    delete faults.write
    await append('room again')
    expect(await recordsOnDisk()).toEqual(['room again'])
  })

  it('refuses the group when fdatasync fails, without counting it as durable', async () => {
    faults.datasync = ioError('EIO')
    await expect(append('unsynced')).rejects.toBe(faults.datasync)
    // The repair (truncate + datasync) failed too, so the file is no longer trusted.
    expect(appender.failure?.code).toBe('CSG_SPOOL_CLOSED')
    expect(ledger.last.size).toBe(0)
    expect(appender.fsyncs).toBe(0)
  })

  it('refuses every later append once a failed write cannot be cut back', async () => {
    faults.write = ioError('EIO')
    faults.truncate = ioError('EROFS')
    await expect(append('torn')).rejects.toBe(faults.write)
    expect(appender.failure).toMatchObject({ code: 'CSG_SPOOL_CLOSED', cause: faults.truncate })
    expect(logged).toContain('spool cannot repair a failed write; refusing appends')

    delete faults.write
    delete faults.truncate
    await expect(append('later')).rejects.toBe(appender.failure)
  })
})
