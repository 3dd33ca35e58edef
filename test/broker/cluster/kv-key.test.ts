// Bucket keys on a real nats-server: bucketKeys lists every key once, also while another
// connection keeps writing one of them as node heartbeats do (the KV client's keys() listed such a
// key twice, or waited for seconds); deleted keys stay listed with their marker. And kvKeyOf /
// nameOfKvKey round-trip names with dots and UTF-8.
import { Kvm } from '@nats-io/kv'
import { expect, it } from 'vitest'
import { bucketKeys, kvKeyOf, nameOfKvKey } from '../../../broker/cluster/kv-key.ts'
import { useNatsConnections } from '../../helpers/nats.ts'

const connections = useNatsConnections(2)


it('round-trips names that are not valid key tokens', () => {
  for (const name of ['gw-a', 'lp.north.1', 'Straße-7', '.']) expect(nameOfKvKey(kvKeyOf(name))).toBe(name)
})

it('lists each key once while another connection keeps writing one of them', async () => {
  const reader = await new Kvm(connections[0]!).create('keys-busy', { history: 1 })
  const writer = await new Kvm(connections[1]!).open('keys-busy')
  const keys = Array.from({ length: 50 }, (_, i) => kvKeyOf(`node-${i}`)).sort()
  for (const key of keys) await reader.put(key, '{}')
  let writing = true
  let writes = 0
  const rewriting = (async () => {
    // Bounded: stops with the listings below, or after 5,000 writes at most.
    while (writing && writes < 5000) {
      await writer.put(keys[0]!, JSON.stringify({ n: writes++ }))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })()
  try {
    for (let round = 0; round < 100; round++) {
      expect((await bucketKeys(connections[0]!, 'keys-busy')).sort()).toEqual(keys)
    }
  } finally {
    writing = false
    await rewriting
  }
  expect(writes).toBeGreaterThan(10)
})

it('lists a deleted key (its marker is its last message), which callers skip by reading it', async () => {
  const kv = await new Kvm(connections[0]!).create('keys-deleted', { history: 1 })
  await kv.put('a', '{}')
  await kv.put('b', '{}')
  await kv.delete('b')
  expect((await bucketKeys(connections[0]!, 'keys-deleted')).sort()).toEqual(['a', 'b'])
  expect((await kv.get('b'))?.operation).toBe('DEL')
})
