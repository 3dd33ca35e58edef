import mqttPacket from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PacketSizeCounter } from '../../../../broker/mqtt/guards/packet-size.ts'

function publish (payloadBytes: number): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(payloadBytes, 0x61), qos: 0, retain: false, dup: false })
}

/** Feeds the chunks; the index of the first refused chunk, or -1 when all fit. */
function feed (chunks: Buffer[], max: number): number {
  const counter = new PacketSizeCounter(max)
  return chunks.findIndex((chunk) => !counter.feed(chunk))
}

/** Cuts a buffer into pieces of the given sizes (the rest in one). */
function split (buffer: Buffer, ...sizes: number[]): Buffer[] {
  const parts: Buffer[] = []
  let at = 0
  for (const size of sizes) { parts.push(buffer.subarray(at, at + size)); at += size }
  parts.push(buffer.subarray(at))
  return parts.filter((p) => p.length > 0)
}

describe('PacketSizeCounter', () => {
  it('accepts packets up to the limit, however they are split', () => {
    const stream = Buffer.concat([publish(10), publish(1000), publish(200), mqttPacket.generate({ cmd: 'pingreq' })])
    for (const chunks of [[stream], split(stream, 1, 1, 1, 5), split(stream, 14, 2, 3), [...stream].map((b) => Buffer.from([b]))]) {
      expect(feed(chunks, 1100)).toBe(-1)
    }
  })

  it('refuses at the chunk holding the oversized header, before its body', () => {
    const chunks = split(Buffer.concat([publish(5), publish(200_000)]), 10, 4)
    expect(feed(chunks, 64 * 1024)).toBe(1)
    const counter = new PacketSizeCounter(64 * 1024)
    chunks.slice(0, 2).forEach((c) => counter.feed(c))
    expect(counter.oversizeBytes).toBeGreaterThan(64 * 1024)
  })

  it('handles four-byte remaining lengths', () => {
    expect(feed([publish(3_000_000)], 4_000_000)).toBe(-1)
    expect(feed([publish(3_000_000)], 2_000_000)).toBe(0)
  })
})
