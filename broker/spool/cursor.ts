// Where delivery stands (the committed position), kept in a preallocated file of two fixed slots
// that are overwritten in place: a commit needs no new disk space, so a full disk can still advance
// the cursor and free delivered segments. Each write goes to the other slot with a higher counter
// and a CRC; after a torn write the intact slot wins.
import { open, readFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { Logger } from 'pino'
import { fsyncDir } from './files.ts'
import type { Position } from './ledger.ts'

export const CURSOR_FILE = 'cursor.slots'

/** The cursor file of a named further reader (`SpoolOptions.followers`), e.g. `cursor.ngsi-ld.slots`. */
export function followerCursorFile (name: string): string {
  return `cursor.${name}.slots`
}
const SLOT_BYTES = 32
const MAGIC = 0x43534743 // "CSGC"

interface Slot extends Position { readonly counter: bigint }

function encodeSlot (slot: Slot): Buffer {
  const buffer = Buffer.alloc(SLOT_BYTES)
  buffer.writeUInt32LE(MAGIC, 0)
  buffer.writeBigUInt64LE(slot.counter, 4)
  buffer.writeBigUInt64LE(BigInt(slot.seq), 12)
  buffer.writeBigUInt64LE(BigInt(slot.offset), 20)
  buffer.writeUInt32LE(crc32(buffer.subarray(0, 28)), 28)
  return buffer
}

function decodeSlot (buffer: Buffer, at: number): Slot | undefined {
  if (buffer.length < at + SLOT_BYTES || buffer.readUInt32LE(at) !== MAGIC) return undefined
  if (crc32(buffer.subarray(at, at + 28)) !== buffer.readUInt32LE(at + 28)) return undefined
  const seq = buffer.readBigUInt64LE(at + 12)
  const offset = buffer.readBigUInt64LE(at + 20)
  if (seq > BigInt(Number.MAX_SAFE_INTEGER) || offset > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  return { counter: buffer.readBigUInt64LE(at + 4), seq: Number(seq), offset: Number(offset) }
}

/** The committed position; a missing or damaged cursor means "from the first segment" (at-least-once, never loss). */
export async function readCursor (dir: string, log: Logger, fileName: string = CURSOR_FILE): Promise<Position> {
  const slots = await readFile(join(dir, fileName)).catch(function noFile (err: NodeJS.ErrnoException) {
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (slots === undefined) return { seq: 0, offset: 0 }
  const valid = [decodeSlot(slots, 0), decodeSlot(slots, SLOT_BYTES)].filter(function isSlot (s): s is Slot { return s !== undefined })
  const newest = valid.sort(function byCounter (a, b) { return a.counter > b.counter ? -1 : 1 })[0]
  if (newest !== undefined) return { seq: newest.seq, offset: newest.offset }
  log.warn({ file: fileName }, 'spool cursor unreadable; re-delivering from the first segment')
  return { seq: 0, offset: 0 }
}

export interface CursorFile {
  /** Durable once resolved (pwrite + fdatasync of one slot). */
  write(position: Position): Promise<void>
  close(): Promise<void>
}

/** Opens (creating and preallocating at start-up, while there is room) the slot file, starting from `position`. */
export async function openCursorFile (dir: string, position: Position, fileName: string = CURSOR_FILE): Promise<CursorFile> {
  const file = join(dir, fileName)
  const existing = await readFile(file).catch(function noFile () { return undefined })
  const slots = existing === undefined ? [] : [decodeSlot(existing, 0), decodeSlot(existing, SLOT_BYTES)]
  let counter = slots.reduce(function highest (max: bigint, s) { return s !== undefined && s.counter > max ? s.counter : max }, 0n)
  const handle: FileHandle = await open(file, existing === undefined || existing.length < 2 * SLOT_BYTES ? 'w+' : 'r+')
  if (existing === undefined || existing.length < 2 * SLOT_BYTES) {
    counter++
    const both = Buffer.alloc(2 * SLOT_BYTES)
    encodeSlot({ counter, ...position }).copy(both, Number(counter % 2n) * SLOT_BYTES)
    await handle.write(both, 0, both.length, 0)
    await handle.sync()
    await fsyncDir(dir)
  }
  return {
    async write (next) {
      counter++
      const slot = encodeSlot({ counter, ...next })
      await handle.write(slot, 0, SLOT_BYTES, Number(counter % 2n) * SLOT_BYTES)
      await handle.datasync()
    },
    close () { return handle.close() },
  }
}
