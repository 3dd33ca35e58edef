// Enters: real spool files in a temp dir with a follower cursor beside the InfluxDB writer's.
// Checks: each reader sees every record once in order; segments stay until both cursors are past
// them; each cursor survives a reopen on its own; a follower new to the directory starts at the oldest record.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSpool, type LocalSpool, type SpoolFeed, type SpoolOptions } from '../../../broker/spool/spool.ts'
import { spoolDefaults } from '../../helpers/default-options.ts'

const silent = pino({ level: 'silent' })
let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'csg-spool-follow-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

function openTest (options: Partial<SpoolOptions> = {}): Promise<LocalSpool> {
  return openSpool({ ...spoolDefaults, dir, log: silent, segmentBytes: 256, followers: ['ngsi-ld'], ...options })
}

async function drain (feed: SpoolFeed, maxLines = 7, limit = Infinity): Promise<string[]> {
  const lines: string[] = []
  while (lines.length < limit) {
    const batch = await feed.read(maxLines, AbortSignal.timeout(50))
    if (batch === null) break
    lines.push(...batch.lines)
    await feed.commit(batch)
  }
  return lines
}

async function segments (): Promise<number> {
  return (await readdir(dir)).filter((name) => name.endsWith('.seg')).length
}

const records = Array.from({ length: 40 }, (_, i) => `line ${i}`)

describe('spool followers', () => {
  it('keeps segments until both the writer and the follower are past them', async () => {
    const spool = await openTest()
    for (const line of records) await spool.append([line])
    const before = await segments()
    expect(before).toBeGreaterThan(3)
    expect(await drain(spool)).toEqual(records)
    // The writer is done, the follower has read nothing: every segment is still needed.
    expect(await segments()).toBe(before)
    expect(spool.stats().depthRecords).toBe(records.length)
    expect(await drain(spool.follower('ngsi-ld'))).toEqual(records)
    expect(await segments()).toBe(1)
    expect(spool.stats().depthRecords).toBe(0)
    await spool.close()
  })

  it('keeps each cursor across a reopen', async () => {
    const first = await openTest()
    for (const line of records) await first.append([line])
    expect(await drain(first)).toEqual(records)
    expect(await drain(first.follower('ngsi-ld'), 5, 15)).toEqual(records.slice(0, 15))
    await first.close()
    const second = await openTest()
    expect(await drain(second)).toEqual([])
    expect(await drain(second.follower('ngsi-ld'))).toEqual(records.slice(15))
    await second.close()
  })

  it('the writer can lag behind the follower, and a rewind goes back to its own cursor', async () => {
    const spool = await openTest()
    for (const line of records) await spool.append([line])
    const feed = spool.follower('ngsi-ld')
    expect(await drain(feed)).toEqual(records)
    const batch = await spool.read(10)
    expect(batch?.lines).toEqual(records.slice(0, 10))
    spool.rewind()
    expect(await drain(spool)).toEqual(records)
    expect(await segments()).toBe(1)
    await spool.close()
  })

  it('a follower new to the directory starts at the oldest record kept', async () => {
    const plain = await openTest({ followers: [] })
    for (const line of records) await plain.append([line])
    expect(await drain(plain, 7, 21)).toEqual(records.slice(0, 21))
    await plain.close()
    const spool = await openTest()
    const seen = await drain(spool.follower('ngsi-ld'))
    // Whole segments before the writer's cursor were deleted; from the first kept one on, nothing is missing.
    expect(seen.length).toBeGreaterThanOrEqual(records.length - 21)
    expect(seen).toEqual(records.slice(records.length - seen.length))
    expect(await drain(spool)).toEqual(records.slice(21))
    await spool.close()
  })

  it('refuses an unknown follower name and bad names', async () => {
    const spool = await openTest()
    expect(() => spool.follower('other')).toThrow(TypeError)
    await spool.close()
    await expect(openTest({ followers: ['Bad Name'] })).rejects.toThrow(/followers/)
  })
})
