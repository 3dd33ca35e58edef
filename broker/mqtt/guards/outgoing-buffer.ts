// What the broker sends to one client may wait in that client's socket buffer, never hold up anyone
// else. Aedes hands a message to all its subscribers before the delivery slot it takes is free
// again (mqemitter: 100 slots), and when a socket's buffer is above its high-water mark it waits
// for 'drain' — so a few clients that stop reading (a phone in a tunnel, a hostile one) would soon
// hold every slot and stall every alarm. Here:
// - each connection's buffer may grow to `maxBufferBytes` before a write reports back-pressure,
//   so writes to a slow reader complete at once and release their slot;
// - a client whose buffer would pass the cap, or that has taken none of its waiting bytes for
//   `stallMs`, is disconnected (its persistent session, if any, keeps its queue, bounded by the
//   session store).
// Progress is judged on two counters, because each moves only in steps: the stream's buffer shrinks
// when a whole batch handed to libuv is written, and libuv's queue (the socket handle's
// writeQueueSize) shrinks whenever the kernel takes more bytes. A slow reader moves one of them
// within seconds; a client that reads nothing moves neither.
import type { Duplex } from 'node:stream'

export type OutgoingCut = 'outgoing_buffer' | 'write_stall'

export interface OutgoingGuardOptions {
  maxBufferBytes: number
  stallMs: number
  /** How often buffers are looked at for stalls, ms. */
  checkIntervalMs: number
  /** A connection was cut (after it was destroyed). */
  onCut(stream: Duplex, reason: OutgoingCut, bufferedBytes: number): void
  now?: () => number
}

export interface OutgoingGuard {
  /** Gives a new connection the buffer size and watches it until it closes. */
  watch(stream: Duplex): void
  /**
   * Whether a message of about `bytes` may be written now; false cuts the connection. A write that
   * would reach the buffer size is never made: it would wait for 'drain' and hold its slot.
   */
  admits(stream: Duplex, bytes: number): boolean
  close(): void
}

interface Watched { bufferedBytes: number; queuedBytes: number; sinceMs: number }

export function createOutgoingGuard (options: OutgoingGuardOptions): OutgoingGuard {
  const now = options.now ?? Date.now
  const watched = new Map<Duplex, Watched | undefined>()

  function cut (stream: Duplex, reason: OutgoingCut): void {
    const bufferedBytes = stream.writableLength
    watched.delete(stream)
    stream.destroy()
    options.onCut(stream, reason, bufferedBytes)
  }

  const timer = setInterval(function findStalls () {
    const nowMs = now()
    for (const [stream, last] of watched) {
      const bufferedBytes = stream.writableLength
      if (bufferedBytes === 0) {
        if (last !== undefined) watched.set(stream, undefined)
        continue
      }
      const queuedBytes = libuvQueuedBytes(stream)
      if (last === undefined || bufferedBytes < last.bufferedBytes || queuedBytes < last.queuedBytes) {
        // Bytes taken since the last look: the client reads, however slowly.
        watched.set(stream, { bufferedBytes, queuedBytes, sinceMs: nowMs })
      } else if (nowMs - last.sinceMs >= options.stallMs) {
        cut(stream, 'write_stall')
      } else {
        // New writes may have raised the counters: compare the next look with these.
        last.bufferedBytes = bufferedBytes
        last.queuedBytes = queuedBytes
      }
    }
  }, options.checkIntervalMs)
  timer.unref()

  return {
    watch (stream) {
      raiseWriteBuffer(stream, options.maxBufferBytes)
      watched.set(stream, undefined)
      stream.once('close', function unwatch () { watched.delete(stream) })
    },
    admits (stream, bytes) {
      if (stream.destroyed) return false
      if (stream.writableLength + bytes < options.maxBufferBytes) return true
      cut(stream, 'outgoing_buffer')
      return false
    },
    close () {
      clearInterval(timer)
      watched.clear()
    },
  }
}

/**
 * Sets how many bytes a stream buffers before `write()` returns false. Node offers it only at
 * construction, and tls.Server builds its sockets without passing it on, so the writable state's
 * field is set directly (test/broker/mqtt/outgoing-guard.test.ts checks it on TCP, TLS and
 * WebSocket streams).
 */
export function raiseWriteBuffer (stream: Duplex, bytes: number): void {
  const state = (stream as unknown as { _writableState?: { highWaterMark?: number } })._writableState
  if (state !== undefined && typeof state.highWaterMark === 'number' && state.highWaterMark < bytes) state.highWaterMark = bytes
}

/**
 * Bytes libuv still holds for this stream's socket (the kernel would not take them yet): the
 * handle's writeQueueSize, for TLS the one of the TCP socket underneath; 0 where there is none
 * (a WebSocket stream, whose buffer is judged alone).
 */
function libuvQueuedBytes (stream: Duplex): number {
  const socket = stream as unknown as { _handle?: { writeQueueSize?: unknown } | null; _parent?: { _handle?: { writeQueueSize?: unknown } | null } | null }
  const queued = socket._parent?._handle?.writeQueueSize ?? socket._handle?.writeQueueSize
  return typeof queued === 'number' ? queued : 0
}
