// Enters: a spool directory as a previous run left it (possibly killed mid-write), and committed positions.
// Leaves: the segments still to deliver, cut at their first torn or corrupt record, from the cursor on.
// Guarantees: every record kept is whole, CRC-checked and fsynced.
import { mkdir, open, readdir, unlink } from 'node:fs/promises'
import type { Logger } from 'pino'
import { readCursor } from './cursor.ts'
import { fsyncDir, READ_CHUNK_BYTES, segmentPath, segmentSeqs, TAKE, walkRecords, type Verdict } from './files.ts'
import type { Position, Segment } from './ledger.ts'

export interface Recovered {
  /** Never empty: an empty spool gets a fresh segment. */
  segments: Segment[]
  committed: Position
  /** Undelivered records found. */
  records: number
  oldestAppendedAtMs: number | null
}

// Scans every undelivered record (CRC and length) from the cursor on, cuts each segment at its first
// torn or corrupt record (a write cut by SIGKILL or power loss) and deletes segments with nothing left
// to deliver. Streams through a 1 MiB buffer, so a spool of gigabytes opens in constant memory.
export async function recover (dir: string, log: Logger): Promise<Recovered> {
  await mkdir(dir, { recursive: true })
  const cursor = await readCursor(dir, log)
  const seqs = segmentSeqs(await readdir(dir))
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)
  const kept: Array<Segment & { start: number }> = []
  let records = 0
  let oldestAppendedAtMs: number | null = null
  const count = function countRecord (appendedAtMs: number): Verdict {
    oldestAppendedAtMs ??= appendedAtMs
    records++
    return TAKE
  }
  for (const seq of seqs) {
    const path = segmentPath(dir, seq)
    if (seq < cursor.seq) {
      await unlink(path) // delivered; the deletion after the commit was interrupted
      continue
    }
    const handle = await open(path, 'r+')
    try {
      const { size } = await handle.stat()
      let start = seq === cursor.seq ? cursor.offset : 0
      if (start > size) {
        log.warn({ segment: seq, cursor: start, size }, 'spool cursor is past the segment end; treating the segment as delivered')
        start = size
      }
      const walk = await walkRecords(handle, buffer, start, size, count)
      if (walk.end < size) {
        await handle.truncate(walk.end)
        log.warn({ code: 'CSG_SPOOL_CORRUPT', segment: seq, offset: walk.end, cutBytes: size - walk.end, reason: walk.fault }, 'spool tail cut at a torn or corrupt record')
      }
      // The last segment may hold writes that were never fsynced (killed before the group's fdatasync).
      await handle.datasync()
      kept.push({ seq, size: walk.end, start })
    } finally {
      await handle.close()
    }
  }
  const live = []
  for (const segment of kept) {
    if (segment.size > segment.start) live.push(segment)
    else await unlink(segmentPath(dir, segment.seq))
  }
  const first = live[0]
  if (first === undefined) {
    const seq = Math.max(cursor.seq, seqs.at(-1) ?? 0) + 1
    const handle = await open(segmentPath(dir, seq), 'w')
    await handle.close()
    await fsyncDir(dir)
    return { segments: [{ seq, size: 0 }], committed: { seq, offset: 0 }, records, oldestAppendedAtMs }
  }
  return {
    segments: live.map(function withoutStart ({ seq, size }) { return { seq, size } }),
    committed: { seq: first.seq, offset: first.start },
    records,
    oldestAppendedAtMs,
  }
}
