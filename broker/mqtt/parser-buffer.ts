// mqtt-packet's parser buffers a connection's unparsed bytes in a `bl` BufferListStream: a full
// readable-stream Duplex (two stream states, ≈ 1 KB of heap per connection) of which the parser
// only calls the plain list methods. A plain BufferList of the same `bl` version does the same job
// in ≈ 90 bytes, which matters at tens of thousands of idle device connections (`npm run bench`).
import type { Client } from 'aedes'
import { BufferList } from 'bl'
import { parserOf } from './aedes-internals.ts'

/**
 * Swaps the parser's stream-backed buffer for a plain BufferList. Only while it is still empty (a
 * fresh connection): nothing buffered can be lost. False when the parser no longer looks like
 * mqtt-packet 9's (then it is left alone; the test suite checks that it still does).
 */
export function lightenParserBuffer (client: Client): boolean {
  const parser = parserOf(client)
  // The parser's buffer, as mqtt-packet 9 uses it (parser.js: append, consume, length, read*, slice).
  const list = parser._list as { length?: unknown; append?: unknown; consume?: unknown } | undefined
  if (list === undefined || list instanceof BufferList) return false
  if (list.length !== 0 || typeof list.append !== 'function' || typeof list.consume !== 'function') return false
  parser._list = new BufferList()
  return true
}
