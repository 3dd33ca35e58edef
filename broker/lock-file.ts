// Exclusive lock files holding the owner's pid. One process at a time may change the registry, and
// one gateway at a time may own a DATA_DIR. A lock whose process is gone (crash, SIGKILL) is taken over.
import { promises as fs } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

export type ReleaseLock = () => Promise<void>

/** Takes the lock, waiting up to waitMs for its holder; resolves undefined if it stays taken. */
export async function acquireLockFile (lockFile: string, waitMs: number): Promise<ReleaseLock | undefined> {
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const handle = await fs.open(lockFile, 'wx', 0o600)
      await handle.writeFile(String(process.pid))
      await handle.close()
      return async function releaseLock () { await fs.rm(lockFile, { force: true }) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    if (await isStaleLock(lockFile)) {
      await fs.rm(lockFile, { force: true })
      continue
    }
    if (Date.now() >= deadline) return undefined
    await sleep(20)
  }
}

/** The pid written in a lock file, if any. */
export async function lockHolder (lockFile: string): Promise<number | undefined> {
  const pid = Number(await fs.readFile(lockFile, 'utf8').catch(function lockVanished () { return '' }))
  return Number.isInteger(pid) && pid > 0 ? pid : undefined
}

async function isStaleLock (lockFile: string): Promise<boolean> {
  const pid = await lockHolder(lockFile)
  if (pid === undefined) return false // being written right now
  if (pid === process.pid) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
