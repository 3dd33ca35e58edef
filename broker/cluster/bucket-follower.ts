// Follows a KV bucket: hands over the last value of every key, then every change, in stream order.
// "Loaded" and "caught up" are measured against the bucket's last revision (its stream's last
// sequence) read from the server: the message at that sequence, or a later one of the same key,
// is delivered by the watch, so once a revision at or past it was handed over, everything written
// before the question was asked has been seen. If the watch ends (it re-creates itself across
// reconnects, but may give up) it is resumed after the last revision handed over.
import type { KV, KvWatchEntry } from '@nats-io/kv'
import type { QueuedIterator } from '@nats-io/nats-core'
import type { Logger } from '../log.ts'

const RESUME_PAUSE_MS = 1000

export interface BucketFollower {
  /** Whether every entry the bucket held when following began is handed over within `timeoutMs`. */
  loaded(timeoutMs: number): Promise<boolean>
  /** Whether every change made before this call is handed over within `timeoutMs`. */
  caughtUp(timeoutMs: number): Promise<boolean>
  stop(): void
}

/** True once `done` resolves, false if `timeoutMs` passes first. */
async function within (done: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>(function expire (resolve) { timer = setTimeout(resolve, timeoutMs, false) })
  try {
    return await Promise.race([done.then(function finished () { return true }), timedOut])
  } finally {
    clearTimeout(timer)
  }
}

/** The bucket's last revision now; 0 when it holds no message. */
export async function lastRevision (kv: KV): Promise<number> {
  const { state } = (await kv.status()).streamInfo
  return state.messages === 0 ? 0 : state.last_seq
}

export async function followBucket (kv: KV, onEntry: (entry: KvWatchEntry) => void, log: Logger): Promise<BucketFollower> {
  let handedOver = 0
  let isStopped = false
  let watch: QueuedIterator<KvWatchEntry> | undefined
  const waiters = new Set<{ revision: number; resolve: () => void }>()

  function reached (revision: number): Promise<void> {
    if (handedOver >= revision) return Promise.resolve()
    return new Promise(function waitForRevision (resolve) { waiters.add({ revision, resolve }) })
  }

  function handOver (entry: KvWatchEntry): void {
    if (isStopped) return // entries the watch still held: whoever stopped it has taken its view
    try {
      onEntry(entry)
    } catch (err) {
      log.error({ err, key: entry.key, revision: entry.revision }, 'KV entry not applied')
    }
    handedOver = Math.max(handedOver, entry.revision)
    for (const waiter of waiters) {
      if (waiter.revision <= handedOver) {
        waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }

  async function follow (): Promise<void> {
    while (!isStopped) {
      try {
        watch = await kv.watch(handedOver === 0 ? {} : { resumeFromRevision: handedOver + 1 })
        if (isStopped) watch.stop()
        for await (const entry of watch) handOver(entry)
        if (!isStopped) log.warn({ revision: handedOver }, 'KV watch ended; resuming')
      } catch (err) {
        if (!isStopped) log.warn({ err, revision: handedOver }, 'KV watch failed; resuming')
      }
      if (!isStopped) await new Promise(function pause (resolve) { setTimeout(resolve, RESUME_PAUSE_MS) })
    }
  }

  const loadedRevision = await lastRevision(kv)
  void follow()

  return {
    loaded (timeoutMs) { return within(reached(loadedRevision), timeoutMs) },
    caughtUp (timeoutMs) { return within(lastRevision(kv).then(reached), timeoutMs) },
    stop () {
      isStopped = true
      watch?.stop()
      waiters.clear()
    },
  }
}
