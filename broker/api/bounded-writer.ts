// Writes to one response that a client may stop reading (an alarm stream) without letting that
// client hold memory: unsent bytes are capped, and once a write is queued over the high-water mark the
// client has drainTimeoutMs to take it. Past either limit the response is destroyed, which frees its
// buffer at once (end() would keep it until the client reads), and onDrop is told why, once.
import type { ServerResponse } from 'node:http'

export type DropReason = 'buffer_full' | 'drain_timeout'

export interface BoundedWriterOptions {
  /** Most unsent bytes held for the client, ours and node's together (writableLength). */
  maxBufferBytes: number
  /** How long a backed-up buffer may wait for a 'drain', ms. */
  drainTimeoutMs: number
  onDrop(reason: DropReason, bufferedBytes: number): void
}

export interface BoundedWriter {
  /** Queues text for the client; false when the client was (or is now) dropped. */
  write(text: string): boolean
  /** Unsent bytes held for the client now. */
  bufferedBytes(): number
  /** Releases the timer and listener; call when the response ends for any reason. */
  close(): void
}

export function createBoundedWriter (raw: ServerResponse, options: BoundedWriterOptions): BoundedWriter {
  let drainTimer: NodeJS.Timeout | undefined
  let isDropped = false

  function stopTimer (): void {
    if (drainTimer === undefined) return
    clearTimeout(drainTimer)
    drainTimer = undefined
  }

  function drop (reason: DropReason): void {
    if (isDropped) return
    isDropped = true
    const bufferedBytes = raw.writableLength
    close()
    options.onDrop(reason, bufferedBytes)
    raw.destroy()
  }

  function close (): void {
    stopTimer()
    raw.off('drain', stopTimer)
  }

  raw.on('drain', stopTimer)

  return {
    write (text) {
      if (isDropped || raw.destroyed) return false
      if (raw.writableLength + Buffer.byteLength(text) > options.maxBufferBytes) {
        drop('buffer_full')
        return false
      }
      if (!raw.write(text) && drainTimer === undefined) {
        drainTimer = setTimeout(function drainTimedOut () { drop('drain_timeout') }, options.drainTimeoutMs)
        drainTimer.unref()
      }
      return true
    },
    bufferedBytes () { return isDropped || raw.destroyed ? 0 : raw.writableLength },
    close,
  }
}
