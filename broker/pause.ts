// A loop's wait that a stop cuts short: the writer and the exporters back off and gather with it.
import { setTimeout as sleep } from 'node:timers/promises'

/** Waits `ms` unless `signal` aborts first; resolves false when it did (or already had): the loop should stop. */
export async function pauseUnlessStopped (ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false
  try {
    await sleep(ms, undefined, { signal })
    return true
  } catch {
    return false
  }
}
