// The first packet of a connection, looked at on the wire before Aedes parses it. A CONNECT whose
// protocol level is not one this broker speaks — MQTT 3.1.1 ("MQTT", level 4) or 3.1 ("MQIsdp",
// level 3) — is answered with CONNACK 0x01, unacceptable protocol level, and the connection is
// closed [MQTT-3.1.2-2]. Left to the parser, unknown levels end in a parse error without any
// CONNACK, and a level that does not match the protocol name is accepted.
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'
import { wrapParse } from '../aedes-internals.ts'

export type PreflightVerdict = 'undecided' | 'pass' | 'unacceptable_protocol'

/** CONNACK, return code 1: unacceptable protocol level [MQTT-3.2.2-3]. */
export const CONNACK_UNACCEPTABLE_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01])

const LEVEL_OF: Readonly<Record<string, number>> = { MQTT: 4, MQIsdp: 3 }
/** Type byte, up to four length bytes, name length, the longest known name, level. */
const MAX_HEADER_BYTES = 1 + 4 + 2 + 6 + 1

/** Collects the first bytes of a connection until it can say whether its CONNECT is acceptable. */
export class ConnectPreflight {
  private head = Buffer.alloc(0)
  verdict: PreflightVerdict = 'undecided'

  /** Adds a chunk; returns the verdict (decided once, then unchanged). */
  feed (chunk: Buffer): PreflightVerdict {
    if (this.verdict !== 'undecided') return this.verdict
    this.head = Buffer.concat([this.head, chunk.subarray(0, MAX_HEADER_BYTES - this.head.length)])
    this.verdict = judge(this.head)
    return this.verdict
  }
}

function judge (bytes: Buffer): PreflightVerdict {
  if (bytes.length === 0) return 'undecided'
  // Anything but a CONNECT first is Aedes' to refuse.
  if ((bytes[0] as number) >> 4 !== 1) return 'pass'
  let at = 1
  for (;;) {
    if (at >= bytes.length) return 'undecided'
    const byte = bytes[at++] as number
    if ((byte & 0x80) === 0) break
    if (at > 4) return 'pass' // a malformed length: the parser's to refuse
  }
  if (at + 2 > bytes.length) return 'undecided'
  const nameLength = bytes.readUInt16BE(at)
  at += 2
  // A protocol name this broker does not know: the parser closes the connection [MQTT-3.1.2-1].
  if (nameLength !== 4 && nameLength !== 6) return 'pass'
  if (at + nameLength + 1 > bytes.length) return 'undecided'
  const name = bytes.toString('latin1', at, at + nameLength)
  const expectedLevel = LEVEL_OF[name]
  if (expectedLevel === undefined) return 'pass'
  // The high bit marks a bridge (mosquitto's extension); the level is in the low bits.
  const level = (bytes[at + nameLength] as number) & 0x7f
  return level === expectedLevel ? 'pass' : 'unacceptable_protocol'
}

/**
 * Puts the preflight in front of this Aedes client's packet parser (in front of the packet-size
 * guard, which it leaves alone): bytes wait until the first CONNECT's level is known, then go on
 * unchanged, or the connection is answered and closed.
 */
export function guardProtocolLevel (client: Client, stream: Duplex, onUnacceptable: () => void): void {
  wrapParse(client, function protocolLevelGuard (parse) {
    const preflight = new ConnectPreflight()
    const held: Buffer[] = []
    return function parseAfterPreflight (chunk: Buffer): unknown {
      switch (preflight.verdict) {
        case 'pass': return parse(chunk)
        case 'unacceptable_protocol': return undefined // answered; the connection is closing
        case 'undecided': break
      }
      const verdict = preflight.feed(chunk)
      held.push(chunk)
      if (verdict === 'undecided') return undefined
      const bytes = held.length === 1 ? chunk : Buffer.concat(held)
      held.length = 0
      if (verdict === 'pass') return parse(bytes)
      onUnacceptable()
      stream.end(CONNACK_UNACCEPTABLE_PROTOCOL, function answered () { stream.destroy() })
      return undefined
    }
  })
}
