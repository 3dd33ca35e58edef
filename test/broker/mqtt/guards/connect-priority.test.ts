import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Client } from 'aedes'
import { expect, it } from 'vitest'
import { createConnectPriority } from '../../../../broker/mqtt/guards/connect-priority.ts'
import { CONNECT_PRIORITY } from '../../../../broker/config.ts'

/** The parts of an Aedes client the priority touches: its parser, connected and closed. */
function fakeClient (name: string, parsed: string[], parseMs = 0) {
  const client = {
    connected: true,
    closed: false,
    _parser: {
      parse (chunk: Buffer): unknown {
        const until = performance.now() + parseMs
        while (performance.now() < until) { /* parsing takes this long */ }
        parsed.push(`${name}:${chunk.toString()}`)
        return 0
      },
    },
  }
  return { client, asClient: client as unknown as Client, feed (text: string) { client._parser.parse(Buffer.from(text)) } }
}

it('parses at once while no connection is arriving', () => {
  const parsed: string[] = []
  const priority = createConnectPriority(CONNECT_PRIORITY)
  const a = fakeClient('a', parsed)
  priority.attach(a.asClient)
  a.feed('1')
  expect(parsed).toEqual(['a:1'])
  priority.close()
})

it('holds a connected client\'s bytes during a storm, never a CONNECT, and parses them in order once it ends', async () => {
  const parsed: string[] = []
  const priority = createConnectPriority(CONNECT_PRIORITY)
  const established = fakeClient('old', parsed)
  const connecting = fakeClient('new', parsed)
  connecting.client.connected = false
  priority.attach(established.asClient)
  priority.attach(connecting.asClient)

  priority.noteAccept()
  established.feed('1')
  established.feed('2')
  connecting.feed('CONNECT')
  expect(parsed).toEqual(['new:CONNECT'])
  await nextTurn() // the storm's turn: the minimum share is parsed
  await nextTurn() // no accept in this turn: the storm is over, everything goes
  expect(parsed).toEqual(['new:CONNECT', 'old:1', 'old:2'])
  established.feed('3')
  expect(parsed.at(-1)).toBe('old:3')
  priority.close()
})

it('gives held clients a share of every storm turn, first come first served', async () => {
  const parsed: string[] = []
  const priority = createConnectPriority({ ...CONNECT_PRIORITY, stormTurnMs: 2, minParseMs: 0.25 })
  const clients = Array.from({ length: 20 }, (_, i) => fakeClient(`c${i}`, parsed, 1))
  for (const c of clients) priority.attach(c.asClient)
  priority.noteAccept()
  for (const c of clients) c.feed('x')
  const perTurn: number[] = []
  for (let turn = 0; turn < 5; turn++) {
    priority.noteAccept() // connections keep arriving
    const before = parsed.length
    await nextTurn()
    perTurn.push(parsed.length - before)
  }
  expect(perTurn.every((n) => n >= 1 && n <= 3)).toBe(true)
  expect(parsed.slice(0, 3)).toEqual(['c0:x', 'c1:x', 'c2:x'])
  await nextTurn()
  await nextTurn()
  expect(parsed).toHaveLength(20)
  priority.close()
})

it('parses a client\'s bytes at once when more than the cap wait, and drops those of a closed client', async () => {
  const parsed: string[] = []
  const priority = createConnectPriority({ ...CONNECT_PRIORITY, maxHeldBytesPerClient: 4 })
  const big = fakeClient('big', parsed)
  const gone = fakeClient('gone', parsed)
  priority.attach(big.asClient)
  priority.attach(gone.asClient)
  priority.noteAccept()
  big.feed('123')
  gone.feed('x')
  expect(parsed).toEqual([])
  big.feed('45')
  expect(parsed).toEqual(['big:123', 'big:45'])
  gone.client.closed = true
  await nextTurn()
  await nextTurn()
  expect(parsed).toEqual(['big:123', 'big:45'])
  priority.close()
})
