// The data key file (DATA_KEY_FILE): JSON with every AES-256 key the gateway ever used and which one
// is current. Read only when owner-only (mode 0600 or stricter); written owner-only, never over an
// existing file except by an atomic replace that keeps every earlier key (rotate).
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { GatewayError } from '../errors.ts'
import { replaceFile } from '../replace-file.ts'

/** A key id: what ciphertexts name their key by, so it must not hold the `:` separator. */
export const keyIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)

const keyBytesSchema = z.string().refine(function is32Bytes (text) {
  return /^[A-Za-z0-9+/]{43}=$/.test(text) && Buffer.from(text, 'base64').length === 32
}, 'key must be 32 bytes in base64')

export const keyFileSchema = z.object({
  version: z.literal(1),
  current: keyIdSchema,
  keys: z.array(z.object({ id: keyIdSchema, key: keyBytesSchema, createdAt: z.string() })).min(1),
}).refine(function currentIsListed (file) {
  return file.keys.some(function isCurrent (k) { return k.id === file.current })
}, 'current names no key of keys').refine(function idsAreUnique (file) {
  return new Set(file.keys.map(function idOf (k) { return k.id })).size === file.keys.length
}, 'key ids repeat')

export type KeyFile = z.infer<typeof keyFileSchema>

/** Largest key file read: thousands of rotations' worth. */
const MAX_KEY_FILE_BYTES = 1024 * 1024

/** A fresh key id: the day it was made (sortable for people) and 32 random bits. */
function newKeyId (now: Date): string {
  return `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(4).toString('hex')}`
}

/** A key file holding one new random key. */
export function newKeyFile (now = new Date()): KeyFile {
  const id = newKeyId(now)
  return { version: 1, current: id, keys: [{ id, key: randomBytes(32).toString('base64'), createdAt: now.toISOString() }] }
}

/** The same file with a new random key made current; earlier keys stay so older ciphertexts open. */
export function withNewKey (file: KeyFile, now = new Date()): KeyFile {
  let id = newKeyId(now)
  while (file.keys.some(function taken (k) { return k.id === id })) id = newKeyId(now)
  return { version: 1, current: id, keys: [...file.keys, { id, key: randomBytes(32).toString('base64'), createdAt: now.toISOString() }] }
}

function invalid (file: string, reason: string, cause?: unknown): GatewayError {
  return new GatewayError('CSG_DATA_KEY_INVALID', `data key file ${file}: ${reason}`, cause === undefined ? undefined : { cause })
}

/** The key file, or undefined when it does not exist. Refuses one that group or others may read or write. */
export async function readKeyFile (file: string): Promise<KeyFile | undefined> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw invalid(file, (err as Error).message, err)
  }
  try {
    // The mode is read from the opened file, so it is the mode of what is read.
    const stat = await handle.stat()
    if (!stat.isFile()) throw invalid(file, 'not a regular file')
    if ((stat.mode & 0o077) !== 0) {
      throw invalid(file, `mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')} lets group or others read it; chmod 600 it`)
    }
    if (stat.size > MAX_KEY_FILE_BYTES) throw invalid(file, `larger than ${MAX_KEY_FILE_BYTES} bytes`)
    const text = await handle.readFile('utf8')
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch (err) {
      throw invalid(file, 'not JSON', err)
    }
    const parsed = keyFileSchema.safeParse(data)
    if (!parsed.success) throw invalid(file, parsed.error.issues[0]?.message ?? 'invalid')
    return parsed.data
  } finally {
    await handle.close()
  }
}

/** Writes a key file that must not exist yet (mode 0600); `CSG_DATA_KEY_INVALID` when it does. */
export async function createKeyFile (file: string, content: KeyFile): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw invalid(file, 'already exists; it is never overwritten (rotate adds a key to it)')
    throw err
  }
  try {
    await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Replaces an existing key file atomically (mode 0600): a crash leaves the old file or the new one. */
export async function replaceKeyFile (file: string, content: KeyFile): Promise<void> {
  await replaceFile(file, `${JSON.stringify(content, null, 2)}\n`)
}
