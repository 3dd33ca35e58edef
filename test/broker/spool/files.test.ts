// Enters: segment files written in a temp dir. Checks walkRecords across chunk boundaries (a chunk far
// smaller than the records), records larger than the chunk, visitor stops, and where a bad tail is reported.
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { segmentPath, segmentSeqs, STOP, TAKE, TAKE_AND_STOP, walkRecords, type Verdict, type Walk } from '../../../broker/spool/files.ts'
import { encodeRecord, recordLines } from '../../../broker/spool/format.ts'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'csg-spool-files-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Walks `bytes` written to a file with a `chunkBytes` buffer; returns the walk and the first line of each record visited. */
async function walk (bytes: Buffer, chunkBytes: number, decide: (index: number) => Verdict = function takeAll () { return TAKE }): Promise<{ walk: Walk, seen: string[] }> {
  const path = join(dir, 'walk.seg')
  await writeFile(path, bytes)
  const handle = await open(path, 'r')
  const seen: string[] = []
  try {
    const result = await walkRecords(handle, Buffer.alloc(chunkBytes), 0, bytes.length, function visit (_at, payload) {
      seen.push(recordLines(payload)[0] as string)
      return decide(seen.length - 1)
    })
    return { walk: result, seen }
  } finally {
    await handle.close()
  }
}

const records = ['short', 'x'.repeat(200), 'mid-sized record', 'y'.repeat(90)].map(function encode (text, i) { return encodeRecord([text], i) })
const all = Buffer.concat(records)
const firstLines = ['short', 'x'.repeat(200), 'mid-sized record', 'y'.repeat(90)]

function flipBits (buffer: Buffer, at: number, mask: number): void {
  buffer.writeUInt8(buffer.readUInt8(at) ^ mask, at)
}

describe('spool files: walkRecords', () => {
  it('visits every record whatever the chunk size, including records larger than the chunk', async () => {
    for (const chunkBytes of [17, 40, 64, 1024]) {
      expect(await walk(all, chunkBytes)).toEqual({ walk: { end: all.length, fault: null, isStopped: false }, seen: firstLines })
    }
  })

  it('stops before a record on STOP and after it on TAKE_AND_STOP', async () => {
    const secondStart = (records[0] as Buffer).length
    const thirdStart = secondStart + (records[1] as Buffer).length
    expect((await walk(all, 64, function stopAtSecond (i) { return i === 1 ? STOP : TAKE })).walk).toEqual({ end: secondStart, fault: null, isStopped: true })
    expect((await walk(all, 64, function stopAfterSecond (i) { return i === 1 ? TAKE_AND_STOP : TAKE })).walk).toEqual({ end: thirdStart, fault: null, isStopped: true })
  })

  it('reports a tail torn in a header, in a payload, or in a record larger than the chunk, at that record start', async () => {
    const lastStart = all.length - (records[3] as Buffer).length
    for (const cut of [lastStart + 5, all.length - 1]) {
      expect((await walk(all.subarray(0, cut), 40)).walk).toEqual({ end: lastStart, fault: 'record cut short', isStopped: false })
    }
    const bigStart = (records[0] as Buffer).length
    expect((await walk(all.subarray(0, bigStart + 150), 40)).walk).toEqual({ end: bigStart, fault: 'record cut short', isStopped: false })
  })

  it('reports a flipped byte in a record larger than the chunk as a checksum mismatch', async () => {
    const damaged = Buffer.from(all)
    const bigStart = (records[0] as Buffer).length
    flipBits(damaged, bigStart + 100, 0x01)
    expect(await walk(damaged, 40)).toEqual({ walk: { end: bigStart, fault: 'checksum mismatch', isStopped: false }, seen: ['short'] })
  })
})

describe('spool files: naming', () => {
  it('names segments with 20 digits and lists only segment files, ascending', () => {
    expect(segmentPath('/d', 42)).toBe(join('/d', '00000000000000000042.seg'))
    expect(segmentSeqs(['00000000000000000010.seg', 'cursor.slots', '00000000000000000002.seg', '2.seg', '00000000000000000003.seg.tmp'])).toEqual([2, 10])
  })
})
