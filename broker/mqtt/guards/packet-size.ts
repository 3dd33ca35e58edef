// Socket bytes are counted by MQTT fixed header before Aedes' parser sees them: a packet whose
// "remaining length" exceeds the limit closes the connection before its body is buffered. Aedes 1.x
// (and mqtt-packet's parser) would otherwise accumulate packets of up to 256 MB in memory.
import type { Client } from 'aedes'
import { wrapParse } from '../aedes-internals.ts'

/** Parser states; only the fixed header is decoded, bodies are skipped by counting. */
const enum State { TypeByte, Length, Body }

/** Follows packet boundaries across chunks; `feed` says whether every packet so far fits. */
export class PacketSizeCounter {
  readonly maxPacketBytes: number
  /** The remaining length that broke the limit, once it happened. */
  oversizeBytes: number | undefined
  private state = State.TypeByte
  private length = 0
  private multiplier = 1
  private lengthBytes = 0
  private bodyLeft = 0

  constructor (maxPacketBytes: number) {
    this.maxPacketBytes = maxPacketBytes
  }

  /** False as soon as a packet header announces more than the limit. */
  feed (chunk: Buffer): boolean {
    let i = 0
    while (i < chunk.length) {
      if (this.state === State.Body) {
        const skip = Math.min(this.bodyLeft, chunk.length - i)
        this.bodyLeft -= skip
        i += skip
        if (this.bodyLeft === 0) this.state = State.TypeByte
        continue
      }
      const byte = chunk[i++] as number
      if (this.state === State.TypeByte) {
        this.state = State.Length
        this.length = 0
        this.multiplier = 1
        this.lengthBytes = 0
        continue
      }
      // Remaining length: up to four 7-bit groups, least significant first [MQTT-2.2.3].
      this.length += (byte & 0x7f) * this.multiplier
      this.multiplier *= 128
      this.lengthBytes++
      if (this.length > this.maxPacketBytes) {
        this.oversizeBytes = this.length
        return false
      }
      if ((byte & 0x80) === 0 || this.lengthBytes === 4) {
        this.bodyLeft = this.length
        this.state = this.bodyLeft === 0 ? State.TypeByte : State.Body
      }
    }
    return true
  }
}

/**
 * Puts the counter in front of this Aedes client's packet parser. Aedes 1.2 offers no hook between
 * the socket and its parser. Wrapping the parser rather than the socket matters: a Transform plus
 * Duplex wrapper around every connection costs a stream hop per chunk and defeats socket corking
 * for PUBACKs (measured with `npm run bench`: see the README's Performance section).
 */
export function guardPacketSize (client: Client, counter: PacketSizeCounter, onTooLarge: () => void): void {
  wrapParse(client, function sizeGuard (parse) {
    let isRefused = false
    return function parseWithinLimit (chunk: Buffer): unknown {
      if (isRefused) return undefined
      if (counter.feed(chunk)) return parse(chunk)
      isRefused = true
      onTooLarge()
      return undefined
    }
  })
}
