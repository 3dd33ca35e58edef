// The gateway's data key at start: DATA_KEY_FILE, or DATA_DIR/data.key (created on a first start so
// that a bare `npm start` works). Guarantees that every key id the data in DATA_DIR was sealed with
// is held, or refuses to start (CSG_DATA_KEY_MISSING): nothing sealed is ever left unreadable.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { createFieldCipher, type FieldCipher } from './field-cipher.ts'
import { createKeyFile, newKeyFile, readKeyFile } from './key-file.ts'

export const DEFAULT_KEY_FILE_NAME = 'data.key'

/** DATA_DIR files and folders the gateway seals personal data in (the cluster's buckets are checked as they are read). */
export const SEALED_DATA_FILES = ['alarms.json', 'incidents.json', 'incident-acks.json', 'sessions.json', 'maintenance.json', 'mail-queue'] as const

/** Largest file scanned for key ids. */
const MAX_SCAN_BYTES = 64 * 1024 * 1024
const KEY_ID_IN_TEXT = /enc1:([A-Za-z0-9_-]{1,64}):/g

export function dataKeyPath (config: { DATA_DIR: string; DATA_KEY_FILE?: string | undefined }): string {
  return config.DATA_KEY_FILE ?? path.join(config.DATA_DIR, DEFAULT_KEY_FILE_NAME)
}

async function filesOf (entry: string): Promise<string[]> {
  try {
    const stat = await fs.stat(entry)
    if (stat.isFile()) return [entry]
    if (!stat.isDirectory()) return []
    const names = await fs.readdir(entry)
    return names.filter(function isMail (n) { return n.endsWith('.json') }).map(function inDir (n) { return path.join(entry, n) })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** Key id → the first DATA_DIR file holding a value sealed with it. */
export async function sealedKeyIds (dataDir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  for (const name of SEALED_DATA_FILES) {
    for (const file of await filesOf(path.join(dataDir, name))) {
      const stat = await fs.stat(file).catch(function gone () { return undefined })
      if (stat === undefined || stat.size > MAX_SCAN_BYTES) continue
      const text = await fs.readFile(file, 'utf8').catch(function gone () { return '' })
      for (const match of text.matchAll(KEY_ID_IN_TEXT)) if (!found.has(match[1] as string)) found.set(match[1] as string, file)
    }
  }
  return found
}

function missing (keyFile: string, keyIds: Map<string, string>, lead: string): GatewayError {
  const named = [...keyIds].map(function describe ([id, file]) { return `${id} (${file})` }).join(', ')
  return new GatewayError('CSG_DATA_KEY_MISSING', `${lead}; personal data in DATA_DIR is sealed with key ${named}. Set DATA_KEY_FILE to the key file holding it (${keyFile} is not it)`)
}

export interface OpenDataKeyOptions {
  dataDir: string
  /** DATA_KEY_FILE; undefined = DATA_DIR/data.key, created when missing and nothing is sealed. */
  keyFile: string | undefined
  /** Cluster mode: DATA_KEY_FILE is required (each node's DATA_DIR would otherwise make its own key). */
  isCluster: boolean
  log: Logger
}

export async function openDataKey (options: OpenDataKeyOptions): Promise<FieldCipher> {
  const log = options.log.child({ module: 'data-key' })
  if (options.isCluster && options.keyFile === undefined) {
    throw new GatewayError('CSG_DATA_KEY_MISSING', 'cluster mode (NATS_URL) needs DATA_KEY_FILE: every node must use the same key file (`citygw key create --file <path>`, then the same file on every node)')
  }
  const file = options.keyFile ?? path.join(options.dataDir, DEFAULT_KEY_FILE_NAME)
  const sealed = await sealedKeyIds(options.dataDir)
  let keys = await readKeyFile(file)
  let isCreated = false
  if (keys === undefined) {
    if (options.keyFile !== undefined) throw new GatewayError('CSG_DATA_KEY_MISSING', `DATA_KEY_FILE ${file} does not exist; create it with \`citygw key create --file ${file}\``)
    if (sealed.size > 0) throw missing(file, sealed, `no data key file at ${file}`)
    keys = newKeyFile()
    await createKeyFile(file, keys)
    isCreated = true
    log.warn({ keyFile: file, keyId: keys.current }, 'data key created in DATA_DIR: move it off the data disk (a copy goes with every backup of DATA_DIR) and set DATA_KEY_FILE to its new place')
  }
  const cipher = createFieldCipher(keys)
  const unknown = new Map([...sealed].filter(function notHeld ([id]) { return !cipher.hasKey(id) }))
  if (unknown.size > 0) throw missing(file, unknown, `the data key file ${file} lacks a key`)
  if (isCreated) return cipher
  if (options.keyFile === undefined) log.warn({ keyFile: file, keyId: cipher.currentKeyId }, 'data key read from DATA_DIR: set DATA_KEY_FILE to keep it off the data disk')
  else log.info({ keyFile: file, keyId: cipher.currentKeyId }, 'data key read')
  return cipher
}

/** The key for a CLI command: read, never created; undefined when there is no key file. */
export async function readDataKey (config: { DATA_DIR: string; DATA_KEY_FILE?: string | undefined }): Promise<FieldCipher | undefined> {
  const keys = await readKeyFile(dataKeyPath(config))
  return keys === undefined ? undefined : createFieldCipher(keys)
}
