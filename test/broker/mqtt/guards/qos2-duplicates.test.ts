import type { Client } from 'aedes'
import { describe, expect, it } from 'vitest'
import { createQos2Duplicates } from '../../../../broker/mqtt/guards/qos2-duplicates.ts'

/** Only identity matters here: claims are kept per client object. */
function client (id: string): Client {
  return { id } as Client
}

function nextImmediate (): Promise<void> {
  return new Promise((resolve) => { setImmediate(resolve) })
}

/** A store answer the test sets: which client's message ids Aedes holds (awaiting PUBREL). */
function heldIds (): { held: Set<string>; asked: string[]; isHeld: (c: Client, messageId: number) => Promise<boolean> } {
  const held = new Set<string>()
  const asked: string[] = []
  return {
    held,
    asked,
    isHeld: (c, messageId) => {
      asked.push(`${c.id}:${messageId}`)
      return Promise.resolve(held.has(`${c.id}:${messageId}`))
    },
  }
}

describe('createQos2Duplicates', () => {
  it('the first claim wins; a retransmission while it is being ingested is a duplicate', async () => {
    const store = heldIds()
    const qos2 = createQos2Duplicates(store.isHeld)
    const device = client('lamp-1')
    expect(await qos2.claim(device, 7)).toBe(true)
    expect(await qos2.claim(device, 7)).toBe(false)
    // Another id, or the same id of another client, is not.
    expect(await qos2.claim(device, 8)).toBe(true)
    expect(await qos2.claim(client('lamp-1'), 7)).toBe(true)
  })

  it('claims synchronously: of two packets in one chunk, exactly one wins', async () => {
    const store = heldIds()
    const qos2 = createQos2Duplicates(store.isHeld)
    const device = client('lamp-1')
    const results = await Promise.all([qos2.claim(device, 7), qos2.claim(device, 7), qos2.claim(device, 7)])
    expect(results).toEqual([true, false, false])
    // The losers did not even ask the store.
    expect(store.asked).toEqual(['lamp-1:7'])
  })

  it('after release, still a duplicate until the next immediate; then the session store answers', async () => {
    const store = heldIds()
    const qos2 = createQos2Duplicates(store.isHeld)
    const device = client('lamp-1')
    expect(await qos2.claim(device, 7)).toBe(true)
    qos2.release(device, 7)
    expect(await qos2.claim(device, 7)).toBe(false)
    await nextImmediate()
    // Aedes stored the message meanwhile: its store says duplicate.
    store.held.add('lamp-1:7')
    expect(await qos2.claim(device, 7)).toBe(false)
    expect(await qos2.claim(device, 7)).toBe(false)
    // PUBREL completed: the store no longer holds it, and the id is free for a new message.
    store.held.delete('lamp-1:7')
    expect(await qos2.claim(device, 7)).toBe(true)
  })

  it('a message the store already holds is a duplicate and leaves no claim behind', async () => {
    const store = heldIds()
    store.held.add('lamp-1:9')
    const qos2 = createQos2Duplicates(store.isHeld)
    const device = client('lamp-1')
    expect(await qos2.claim(device, 9)).toBe(false)
    store.held.delete('lamp-1:9')
    expect(await qos2.claim(device, 9)).toBe(true)
  })

  it('a store that fails rejects the claim and frees the id', async () => {
    let failing = true
    const qos2 = createQos2Duplicates(() => failing ? Promise.reject(new Error('store down')) : Promise.resolve(false))
    const device = client('lamp-1')
    await expect(qos2.claim(device, 3)).rejects.toThrow('store down')
    failing = false
    expect(await qos2.claim(device, 3)).toBe(true)
  })

  it('releasing an id never claimed, or twice, is harmless', async () => {
    const store = heldIds()
    const qos2 = createQos2Duplicates(store.isHeld)
    const device = client('lamp-1')
    qos2.release(device, 1)
    expect(await qos2.claim(device, 2)).toBe(true)
    qos2.release(device, 2)
    qos2.release(device, 2)
    await nextImmediate()
    expect(await qos2.claim(device, 2)).toBe(true)
  })
})
