// Enters: pushes from a writer stand-in, reads and commits of an exporter stand-in.
// Checks: a push resolves only once committed; rewind gives the same lines again; close fails what
// is not committed; the tee commits to the spool only after the feed took the batch.
import { describe, expect, it } from 'vitest'
import { isGatewayError } from '../../../broker/errors.ts'
import { createPushFeed, teeCommits } from '../../../broker/ngsi/push-feed.ts'
import type { Spool } from '../../../broker/spool/spool.ts'
import { batchOfLines } from '../../../broker/spool/batch.ts'

describe('push feed', () => {
  it('resolves a push only when the exporter commits it, in order, whole pushes per batch', async () => {
    const feed = createPushFeed()
    let firstDone = false
    const first = feed.push(['a', 'b']).then(() => { firstDone = true })
    const second = feed.push(['c'])
    const batch = await feed.read(2)
    expect(batch?.lines).toEqual(['a', 'b'])
    await new Promise((resolve) => setImmediate(resolve))
    expect(firstDone).toBe(false)
    await feed.commit(batch!)
    await first
    expect(firstDone).toBe(true)
    const next = await feed.read(10)
    expect(next?.lines).toEqual(['c'])
    feed.rewind()
    const again = await feed.read(10)
    expect(again?.lines).toEqual(['c'])
    await feed.commit(again!)
    await second
  })

  it('waits for a push, ends a read on abort, and fails uncommitted pushes on close', async () => {
    const feed = createPushFeed()
    const controller = new AbortController()
    const waiting = feed.read(10, controller.signal)
    controller.abort()
    expect(await waiting).toBeNull()
    const pushed = feed.push(['x'])
    await feed.read(10)
    feed.close()
    await expect(pushed).rejects.toSatisfy((err: unknown) => isGatewayError(err, 'CSG_SPOOL_CLOSED'))
    await expect(feed.push(['y'])).rejects.toSatisfy((err: unknown) => isGatewayError(err, 'CSG_SPOOL_CLOSED'))
  })

  it('the tee commits to the spool only after the export committed the lines', async () => {
    const feed = createPushFeed()
    const order: string[] = []
    const batch = batchOfLines(['l1'], 1, 3)
    const spool = { commit: () => { order.push('spool'); return Promise.resolve() } } as unknown as Spool
    const committing = teeCommits(spool, feed).commit(batch)
    const read = await feed.read(10)
    order.push('export')
    await feed.commit(read!)
    await committing
    expect(order).toEqual(['export', 'spool'])
  })
})
