// Follows a KV bucket: hands over the last value of every key, then every change, in stream order.
// "Loaded" and "caught up" are measured against the bucket's last revision (its stream's last
// sequence) read from the server: the message at that sequence, or a later one of the same key,
// is delivered by the watch, so once a revision at or past it was handed over, everything written
// before the question was asked has been seen. Every JetStream call is retried until stop(): the
// callers bound their waits (loaded, caughtUp).
// The watch re-creates its consumer across reconnects, but notices the loss of the NATS server that
// hosted the consumer only after two missed 30 s heartbeats, and creating a new consumer can time
// out for a while after such a loss. So the follower compares the bucket's last revision with what
// it handed over every STALL_CHECK_MS; behind and no progress for a whole interval, it stops the
// watch, reads the missed revisions one by one from the stream (no consumer needed), and starts a
// new watch after them. A watch that fails or ends is replaced the same way.
import type { JetStreamManager } from '@nats-io/jetstream'
import type { KV, KvEntry } from '@nats-io/kv'
import type { QueuedIterator } from '@nats-io/nats-core'
import type { Logger } from '../log.ts'
import { GatewayError } from '../errors.ts'

/** Pause before a watch that failed or ended is replaced. */
const RESUME_PAUSE_MS = 1000
/** How often progress is checked; a stalled watch is replaced within about two of these. */
const STALL_CHECK_MS = 1000
/** Revisions read one by one before a new watch takes over the rest. */
const CATCH_UP_MAX = 1000

export interface FollowedBucket {
  readonly kv: KV
  readonly jsm: JetStreamManager
  /** The bucket's name (its stream is KV_<name>, its keys' subjects $KV.<name>.<key>). */
  readonly name: string
}

/** What a follower hands over: one message of the bucket. */
export type BucketEntry = Pick<KvEntry, 'key' | 'operation' | 'revision' | 'string'>

export interface BucketFollower {
  /** Whether a watch runs and every entry the bucket held when following began is handed over within `timeoutMs`. */
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
async function lastRevision (kv: KV): Promise<number> {
  const { state } = (await kv.status()).streamInfo
  return state.messages === 0 ? 0 : state.last_seq
}

export function followBucket (bucket: FollowedBucket, onEntry: (entry: BucketEntry) => void, log: Logger): BucketFollower {
  const { kv, jsm, name } = bucket
  const keyPrefix = `$KV.${name}.`
  let handedOver = 0
  let isStopped = false
  /** The running watch; undefined while one is being created or between two. */
  let watch: QueuedIterator<BucketEntry> | undefined
  const waiters = new Set<{ revision: number; resolve: () => void }>()

  function reached (revision: number): Promise<void> {
    if (handedOver >= revision) return Promise.resolve()
    return new Promise(function waitForRevision (resolve) { waiters.add({ revision, resolve }) })
  }

  function handOver (entry: BucketEntry): void {
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

  /** Hands over the revisions after handedOver straight from the stream, up to CATCH_UP_MAX. */
  async function catchUp (): Promise<void> {
    const last = Math.min(await lastRevision(kv), handedOver + CATCH_UP_MAX)
    for (let seq = handedOver + 1; seq <= last && !isStopped; seq++) {
      const message = await jsm.streams.getMessage(`KV_${name}`, { seq })
      if (message === null || !message.subject.startsWith(keyPrefix)) continue // replaced by a later revision of its key
      const operation = message.header?.get('KV-Operation')
      handOver({
        key: message.subject.slice(keyPrefix.length),
        operation: operation === 'DEL' || operation === 'PURGE' ? operation : 'PUT',
        revision: message.seq,
        string () { return message.string() },
      })
    }
  }

  let failuresInARow = 0
  let isReplacing = false
  let watchStarted: () => void = function notYet () {}
  /** Resolves once a watch runs: an empty bucket is not "loaded" before changes can arrive. */
  const started = new Promise<void>(function firstWatch (resolve) { watchStarted = resolve })
  let loadedRevisionKnown: (revision: number) => void = function notYet () {}
  /** The bucket's last revision when following began (read with the first watch's retries). */
  const loadedRevision = new Promise<number>(function firstRevision (resolve) { loadedRevisionKnown = resolve })
  let isLoadedRevisionKnown = false

  async function follow (): Promise<void> {
    while (!isStopped) {
      try {
        if (!isLoadedRevisionKnown) {
          loadedRevisionKnown(await lastRevision(kv))
          isLoadedRevisionKnown = true
        }
        // Before the first entry the watch delivers every key's last value; afterwards it resumes.
        if (handedOver > 0) await catchUp()
        watch = await kv.watch(handedOver === 0 ? {} : { resumeFromRevision: handedOver + 1 })
        if (failuresInARow > 0) log.info({ revision: handedOver, failures: failuresInARow }, 'KV watch resumed')
        failuresInARow = 0
        watchStarted()
        if (isStopped) watch.stop()
        for await (const entry of watch) handOver(entry)
        if (!isStopped && !isReplacing) log.warn({ revision: handedOver }, 'KV watch ended; resuming')
      } catch (err) {
        // Logged once per outage, not once per attempt.
        if (!isStopped && failuresInARow++ === 0) log.warn({ err, revision: handedOver }, 'KV watch failed; retrying')
      }
      watch = undefined
      if (isReplacing) isReplacing = false
      else if (!isStopped) await new Promise(function pause (resolve) { setTimeout(resolve, RESUME_PAUSE_MS) })
    }
  }

  /** handedOver when the watch was first seen behind the bucket; undefined when it was not. */
  let behindAt: number | undefined
  async function checkProgress (): Promise<void> {
    let last: number
    try {
      last = await lastRevision(kv)
    } catch {
      return // NATS unavailable: the watch's own retries cover it
    }
    if (last <= handedOver || behindAt !== handedOver) {
      behindAt = last <= handedOver ? undefined : handedOver
      return
    }
    behindAt = undefined
    if (isStopped || watch === undefined) return
    log.warn({ revision: handedOver, bucketRevision: last }, 'KV watch stalled; replacing it')
    isReplacing = true
    watch.stop()
  }

  void follow()
  const progressTimer = setInterval(function checkWatch () { void checkProgress() }, STALL_CHECK_MS)
  progressTimer.unref()

  return {
    loaded (timeoutMs) { return within(Promise.all([started, loadedRevision.then(reached)]), timeoutMs) },
    caughtUp (timeoutMs) { return within(lastRevision(kv).then(reached), timeoutMs) },
    stop () {
      isStopped = true
      clearInterval(progressTimer)
      watch?.stop()
      waiters.clear()
    },
  }
}

/** How long a one-off read of a bucket (the CLI, a store's write) may wait for the bucket's entries. */
const READ_ONCE_TIMEOUT_MS = 30_000

/**
 * Hands every entry of the bucket now to `onEntry` once and stops: for reads that need the whole
 * bucket (the CLI, a compare-and-set write). CSG_NATS_UNAVAILABLE when it cannot be read in time.
 */
export async function readBucketOnce (bucket: FollowedBucket, onEntry: (entry: BucketEntry) => void, what: string, log: Logger): Promise<void> {
  const follower = followBucket(bucket, onEntry, log)
  try {
    if (!await follower.loaded(READ_ONCE_TIMEOUT_MS)) {
      throw new GatewayError('CSG_NATS_UNAVAILABLE', `the ${what} bucket ${bucket.name} could not be read within ${READ_ONCE_TIMEOUT_MS / 1000} s`)
    }
  } finally {
    follower.stop()
  }
}
