// Enters: a spool directory as a previous run left it (possibly killed mid-write), and committed positions.
// Leaves: the segments still to deliver, cut at their first torn or corrupt record, from the lowest
// cursor on, and where each cursor stands. Guarantees: every record kept is whole, CRC-checked and fsynced.
import { mkdir, open, readdir, unlink } from 'node:fs/promises'
import type { Logger } from 'pino'
import { CURSOR_FILE, readCursor } from './cursor.ts'
import { HEADER_BYTES } from './format.ts'
import { fsyncDir, READ_CHUNK_BYTES, segmentPath, segmentSeqs, TAKE, walkRecords, type Verdict } from './files.ts'
import type { Position, Segment } from './ledger.ts'

/** Where one cursor stands after recovery, and how many kept records lie before it. */
export interface RecoveredCursor { position: Position, ordinal: number }

export interface Recovered {
  /** Never empty: an empty spool gets a fresh segment. */
  segments: Segment[]
  /** The lowest cursor: everything before it is delivered to every reader. */
  committed: Position
  /** One per cursor file asked for, in the order asked. */
  cursors: RecoveredCursor[]
  /** Undelivered records found. */
  records: number
  oldestAppendedAtMs: number | null
}

// Scans every undelivered record (CRC and length) from the cursor on, cuts each segment at its first
// torn or corrupt record (a write cut by SIGKILL or power loss) and deletes segments with nothing left
// to deliver. Streams through a 1 MiB buffer, so a spool of gigabytes opens in constant memory.
export async function recover (dir: string, log: Logger, cursorFiles: readonly string[] = [CURSOR_FILE]): Promise<Recovered> {
  await mkdir(dir, { recursive: true })
  const positions: Position[] = []
  for (const file of cursorFiles) positions.push(await readCursor(dir, log, file))
  const cursor = positions.reduce(function lowest (a, b) { return isBefore(b, a) ? b : a })
  const cursors = positions.map(function start (position) { return { position, ordinal: 0 } })
  const seqs = segmentSeqs(await readdir(dir))
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)
  const kept: Array<Segment & { start: number }> = []
  let records = 0
  let oldestAppendedAtMs: number | null = null
  let at: Position = { seq: 0, offset: 0 }
  const count = function countRecord (appendedAtMs: number, payload: Buffer): Verdict {
    oldestAppendedAtMs ??= appendedAtMs
    records++
    // Each cursor's ordinal counts the kept records before it, so ordinals of all cursors compare.
    for (const c of cursors) if (isBefore(at, c.position)) c.ordinal++
    at = { seq: at.seq, offset: at.offset + HEADER_BYTES + payload.length }
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
      at = { seq, offset: start }
      const walk = await walkRecords(handle, buffer, start, size, count)
      // A cursor past a cut tail stands at the new end, where the next append goes.
      for (const c of cursors) if (c.position.seq === seq && c.position.offset > walk.end) c.position = { seq, offset: walk.end }
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
    const fresh = { seq, offset: 0 }
    return { segments: [{ seq, size: 0 }], committed: fresh, cursors: cursors.map(function atFresh () { return { position: fresh, ordinal: 0 } }), records, oldestAppendedAtMs }
  }
  return {
    segments: live.map(function withoutStart ({ seq, size }) { return { seq, size } }),
    committed: { seq: first.seq, offset: first.start },
    cursors,
    records,
    oldestAppendedAtMs,
  }
}

function isBefore (a: Position, b: Position): boolean {
  return a.seq < b.seq || (a.seq === b.seq && a.offset < b.offset)
}
