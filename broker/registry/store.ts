// The registry file DATA_DIR/registry.json: read it, and change it under a lock with an atomic
// replace (write temp, fsync, rename), mode 0600. The CLI writes; a running gateway only reads.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { GatewayError } from '../errors.ts'
import { acquireLockFile } from '../lock-file.ts'
import { emptyRegistry, registryFileSchema, type RegistryData } from './schema.ts'
import { replaceFile } from '../replace-file.ts'

export const REGISTRY_FILE_NAME = 'registry.json'
const LOCK_WAIT_MS = 10_000

export function registryPath (dataDir: string): string {
  return path.join(dataDir, REGISTRY_FILE_NAME)
}

/** Reads and validates the registry; a missing file is an empty registry. */
export async function readRegistry (file: string): Promise<RegistryData> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyRegistry()
    throw err
  }
  return parseRegistry(text, file)
}

export function parseRegistry (text: string, file: string): RegistryData {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new GatewayError('CSG_REGISTRY_INVALID', `${file} is not valid JSON`, { cause: err })
  }
  const parsed = registryFileSchema.safeParse(data)
  if (!parsed.success) {
    const first = parsed.error.issues[0]
    throw new GatewayError('CSG_REGISTRY_INVALID', `${file}: ${first?.path.join('.') ?? ''} ${first?.message ?? 'invalid'}`)
  }
  return parsed.data
}

/** The registry.json text of a registry (also what `citygw registry export` prints). */
export function registryText (data: RegistryData): string {
  return `${JSON.stringify(data, null, 1)}\n`
}

/**
 * Runs `mutate` on the current registry while holding DATA_DIR/registry.lock, then replaces
 * the file atomically. Returns what `mutate` returns; if it throws, nothing is written.
 */
export async function updateRegistry<T> (file: string, mutate: (data: RegistryData) => T): Promise<T> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  const release = await acquireLockFile(`${file}.lock`, LOCK_WAIT_MS)
  if (release === undefined) {
    throw new GatewayError('CSG_REGISTRY_CONFLICT', `registry is locked by another process (${file}.lock)`)
  }
  try {
    const data = await readRegistry(file)
    const result = mutate(data)
    await replaceFile(file, registryText(data))
    return result
  } finally {
    await release()
  }
}

