// A list of records kept in one JSON file under DATA_DIR that the gateway and the CLI both change
// (`{ "version": 1, "<key>": [ … ] }`): changed only under `<file>.lock`, replaced atomically, mode
// 0600. An entry that does not validate is dropped with a warning; a file that is not JSON, or too
// large, counts as empty, so a damaged file costs its records instead of stopping the start.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { acquireLockFile } from './lock-file.ts'
import type { Logger } from './log.ts'
import { replaceFile } from './replace-file.ts'

const LOCK_WAIT_MS = 10_000

export interface LockedListFileOptions<T> {
  /** The array's key in the file, e.g. `sessions`. */
  readonly key: string
  /** Each entry's schema; entries that fail it are dropped. */
  readonly entry: z.ZodType<T>
  /** What the records are, for messages: `sessions`, `maintenance windows`. */
  readonly what: string
  /** Largest file read. */
  readonly maxBytes: number
  /** JSON.stringify's indent: files people may read get one. */
  readonly indent?: number
}

export interface LockedListFile<T> {
  /** The valid records of the file; none when it is missing. */
  read(file: string, log?: Logger): Promise<T[]>
  /** Runs `mutate` on the file's records while holding the lock, writes what it returns and returns that. */
  update(file: string, mutate: (records: T[]) => T[], log?: Logger): Promise<T[]>
}

export function lockedListFile<T> (options: LockedListFileOptions<T>): LockedListFile<T> {
  const fileSchema = z.object({ version: z.literal(1), [options.key]: z.array(z.unknown()) })

  async function read (file: string, log?: Logger): Promise<T[]> {
    let text: string
    try {
      const stat = await fs.stat(file)
      if (stat.size > options.maxBytes) {
        log?.error({ file, bytes: stat.size, maxBytes: options.maxBytes, reason: 'too_large' }, `${options.what} file ignored`)
        return []
      }
      text = await fs.readFile(file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch {
      log?.error({ file, reason: 'not_json' }, `${options.what} file ignored`)
      return []
    }
    const parsed = fileSchema.safeParse(data)
    if (!parsed.success) {
      log?.error({ file, reason: 'invalid', problem: parsed.error.issues[0]?.message }, `${options.what} file ignored`)
      return []
    }
    const records: T[] = []
    for (const entry of parsed.data[options.key] as unknown[]) {
      const record = options.entry.safeParse(entry)
      if (record.success) records.push(record.data)
      else log?.warn({ file, reason: 'invalid_entry', problem: record.error.issues[0]?.message }, `${options.what} file: invalid entry dropped`)
    }
    return records
  }

  return {
    read,
    async update (file, mutate, log) {
      await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
      const release = await acquireLockFile(`${file}.lock`, LOCK_WAIT_MS)
      if (release === undefined) throw new Error(`${options.what} are locked by another process (${file}.lock)`)
      try {
        const records = mutate(await read(file, log))
        await replaceFile(file, `${JSON.stringify({ version: 1, [options.key]: records }, null, options.indent)}\n`)
        return records
      } finally {
        await release()
      }
    },
  }
}
