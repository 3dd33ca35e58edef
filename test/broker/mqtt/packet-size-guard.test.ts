import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import mqttPacket from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { PacketSizeGuard } from '../../../broker/mqtt/packet-size-guard.ts'

function publish (payloadBytes: number): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(payloadBytes, 0x61), qos: 0, retain: false, dup: false })
}

async function pass (chunks: Buffer[], max: number): Promise<{ bytes: number; error?: Error }> {
  let bytes = 0
  try {
    await pipeline(Readable.from(chunks), new PacketSizeGuard(max), async function count (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) bytes += chunk.length
    })
    return { bytes }
  } catch (error) {
    return { bytes, error: error as Error }
  }
}

/** Cuts a buffer into pieces of the given sizes (the rest in one). */
function split (buffer: Buffer, ...sizes: number[]): Buffer[] {
  const parts: Buffer[] = []
  let at = 0
  for (const size of sizes) { parts.push(buffer.subarray(at, at + size)); at += size }
  parts.push(buffer.subarray(at))
  return parts.filter((p) => p.length > 0)
}

describe('PacketSizeGuard', () => {
  it('passes packets up to the limit unchanged, however they are split', async () => {
    const stream = Buffer.concat([publish(10), publish(1000), publish(200), mqttPacket.generate({ cmd: 'pingreq' })])
    for (const chunks of [[stream], split(stream, 1, 1, 1, 5), split(stream, 14, 2, 3), [...stream].map((b) => Buffer.from([b]))]) {
      const result = await pass(chunks, 1100)
      expect(result.error).toBeUndefined()
      expect(result.bytes).toBe(stream.length)
    }
  })

  it('fails before the body of an oversized packet is passed on', async () => {
    const big = publish(200_000)
    const result = await pass(split(Buffer.concat([publish(5), big]), 10, 4), 64 * 1024)
    expect(result.error?.message).toMatch(/exceeds the limit/)
    expect(result.bytes).toBeLessThan(100)
  })

  it('handles four-byte remaining lengths', async () => {
    const result = await pass([publish(3_000_000)], 4_000_000)
    expect(result.error).toBeUndefined()
    expect(result.bytes).toBe(publish(3_000_000).length)
  })
})
