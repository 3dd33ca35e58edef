// Rewrites a small state file so that a crash or power cut leaves either the old file or the new one:
// a temp file (mode 0600) written and fsynced, renamed over the old one, and the directory fsynced
// so the rename itself is durable.
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'

export async function replaceFile (file: string, chunks: Iterable<string> | string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await fs.open(temp, 'w', 0o600)
  try {
    for (const chunk of typeof chunks === 'string' ? [chunks] : chunks) await handle.write(chunk)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await fs.rm(temp, { force: true })
    throw err
  }
  await handle.close()
  await fs.rename(temp, file)
  const dir = await fs.open(path.dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
