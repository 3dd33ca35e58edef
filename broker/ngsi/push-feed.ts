// Enters: lines handed over by another reader of the same records (in cluster mode the node's InfluxDB
// writer, for the telemetry-log messages the work queue gave this node). Leaves: batches for the
// exporter, as a spool feed. Guarantees: push() resolves only once the exporter committed the lines
// (delivered, or saved as pending), so the hand-over never acknowledges what the export could lose.
import { GatewayError } from '../errors.ts'
import { batchOfLines, type SpoolBatch } from '../spool/batch.ts'
import type { Spool, SpoolFeed } from '../spool/spool.ts'

interface Pushed { readonly lines: readonly string[], readonly done: () => void, readonly failed: (err: unknown) => void }

export interface PushFeed extends SpoolFeed {
  /** Resolves once the exporter has committed these lines; rejects with CSG_SPOOL_CLOSED after close(). */
  push(lines: readonly string[]): Promise<void>
  /** Refuses further pushes and fails those not yet committed (their sender keeps them). */
  close(): void
}

export function createPushFeed (): PushFeed {
  const queue: Pushed[] = []
  const taken = new WeakMap<SpoolBatch, Pushed[]>()
  let held: Pushed[] = []
  const waiters = new Set<() => void>()
  let isClosed = false

  function wake (): void {
    for (const waiter of [...waiters]) waiter()
  }

  function waitForPush (signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>(function waitForWake (resolve) {
      const done = (): void => {
        waiters.delete(done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      waiters.add(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  return {
    push (lines) {
      if (isClosed) return Promise.reject(new GatewayError('CSG_SPOOL_CLOSED'))
      return new Promise<void>(function enqueue (resolve, reject) {
        queue.push({ lines, done: resolve, failed: reject })
        wake()
      })
    },
    async read (maxLines, signal) {
      for (;;) {
        if (isClosed || signal?.aborted === true) return null
        if (queue.length > 0) break
        await waitForPush(signal)
      }
      const items: Pushed[] = []
      const lines: string[] = []
      // Whole pushes only, at least one, as the spool hands out whole records.
      while (queue.length > 0 && (items.length === 0 || lines.length + (queue[0] as Pushed).lines.length <= maxLines)) {
        const item = queue.shift() as Pushed
        items.push(item)
        for (const line of item.lines) lines.push(line)
      }
      held = held.concat(items)
      const batch = batchOfLines(lines, items.length, 0)
      taken.set(batch, items)
      return batch
    },
    commit (batch) {
      const items = taken.get(batch)
      if (items === undefined) return Promise.reject(new TypeError('push feed: not a batch read from this feed'))
      held = held.filter(function isOther (item) { return !items.includes(item) })
      for (const item of items) item.done()
      return Promise.resolve()
    },
    rewind () {
      // Back to the front, in their order: read again next.
      queue.unshift(...held)
      held = []
      wake()
    },
    close () {
      isClosed = true
      const pending = [...held, ...queue]
      held = []
      queue.length = 0
      for (const item of pending) item.failed(new GatewayError('CSG_SPOOL_CLOSED'))
      wake()
    },
  }
}

/** The spool as the InfluxDB writer sees it, handing every batch it commits to `feed` first. */
export function teeCommits (spool: Spool, feed: PushFeed): Spool {
  return {
    append (lines) { return spool.append(lines) },
    read (maxLines, signal) { return spool.read(maxLines, signal) },
    async commit (batch) {
      await feed.push(batch.lines)
      await spool.commit(batch)
    },
    rewind () { spool.rewind() },
    stats () { return spool.stats() },
    close () { return spool.close() },
  }
}
