// The bounded writer in front of a response a client may stop reading: capped unsent bytes, a drain
// deadline, one drop (destroying the response) with its reason, and nothing left running after close.
import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createBoundedWriter, type DropReason } from '../../../broker/api/bounded-writer.ts'

/** A response whose client takes nothing until `drain()` is called. */
function stuckResponse (highWaterMark = 100) {
  const res = Object.assign(new EventEmitter(), {
    writableLength: 0,
    destroyed: false,
    write (text: string) { res.writableLength += Buffer.byteLength(text); return res.writableLength < highWaterMark },
    destroy () { res.destroyed = true; res.writableLength = 0 },
    drain () { res.writableLength = 0; res.emit('drain') },
  })
  return res
}

describe('bounded writer', () => {
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { vi.useRealTimers() })

  it('drops a client whose unsent bytes would pass the cap, once', () => {
    const res = stuckResponse(1000)
    const drops: [DropReason, number][] = []
    const writer = createBoundedWriter(res as unknown as ServerResponse, { maxBufferBytes: 250, drainTimeoutMs: 1000, onDrop: (reason, bytes) => drops.push([reason, bytes]) })
    expect(writer.write('x'.repeat(200))).toBe(true)
    expect(writer.bufferedBytes()).toBe(200)
    expect(writer.write('x'.repeat(51))).toBe(false)
    expect(writer.write('x')).toBe(false)
    expect(drops).toEqual([['buffer_full', 200]])
    expect(res.destroyed).toBe(true)
    expect(writer.bufferedBytes()).toBe(0)
  })

  it('drops a client that does not drain in time, and not one that does', () => {
    const res = stuckResponse(100)
    const drops: DropReason[] = []
    const writer = createBoundedWriter(res as unknown as ServerResponse, { maxBufferBytes: 10_000, drainTimeoutMs: 1000, onDrop: (reason) => drops.push(reason) })
    writer.write('x'.repeat(150)) // over the high-water mark: the deadline starts
    vi.advanceTimersByTime(900)
    res.drain()
    vi.advanceTimersByTime(5000)
    expect(drops).toEqual([])
    writer.write('x'.repeat(150))
    writer.write('x'.repeat(150)) // the deadline is not restarted by further writes
    vi.advanceTimersByTime(1000)
    expect(drops).toEqual(['drain_timeout'])
    expect(res.destroyed).toBe(true)
  })

  it('leaves no timer or listener behind after close', () => {
    const res = stuckResponse(100)
    const writer = createBoundedWriter(res as unknown as ServerResponse, { maxBufferBytes: 10_000, drainTimeoutMs: 1000, onDrop: () => { throw new Error('dropped after close') } })
    writer.write('x'.repeat(150))
    writer.close()
    expect(res.listenerCount('drain')).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })
})
