// Every use of Aedes' private internals, in one place: what each one is, and why the gateway
// cannot do without it. Aedes offers no public way for these, and a new Aedes version may change
// any of them without notice, so the gateway starts only with the version they were written for
// (checkAedesVersion), and test/broker/mqtt/aedes-internals.test.ts fails when their shape changes.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import type { Aedes, Client, PublishPacket } from 'aedes'
import { GatewayError } from '../errors.ts'

/** The Aedes release the internals below were read from. */
export const AEDES_VERSION = '1.2.0'

/** The installed Aedes version, from its package.json (which Aedes does not export). */
export function installedAedesVersion (): string {
  const entry = fileURLToPath(import.meta.resolve('aedes'))
  const pkg = JSON.parse(readFileSync(path.join(path.dirname(entry), 'package.json'), 'utf8')) as { version?: unknown }
  return String(pkg.version)
}

/** Refuses to go on with another Aedes than AEDES_VERSION. */
export function checkAedesVersion (installed = installedAedesVersion()): void {
  if (installed !== AEDES_VERSION) {
    throw new GatewayError('CSG_AEDES_UNSUPPORTED', `aedes ${installed} is installed, but the gateway's use of its internals (broker/mqtt/aedes-internals.ts) was written for ${AEDES_VERSION}: install aedes@${AEDES_VERSION} (npm ci) or check those internals against the new version`)
  }
}

/** The part of mqtt-packet's parser (Aedes' `client._parser`) the gateway touches. */
export interface ParserInternals {
  parse(chunk: Buffer): unknown
  /** mqtt-packet 9 buffers unparsed bytes here (a `bl` BufferListStream). */
  _list?: unknown
}

/**
 * `client._parser`, the connection's mqtt-packet parser. The gateway puts its own steps in front of
 * `parse()` (Aedes has no hook between the socket and the parser): the packet-size guard (a packet
 * above the limit is refused before its body is buffered), the CONNECT preflight (CONNACK 0x01 for
 * foreign protocol levels) and the connect priority (connects before established clients' packets
 * during a storm); and it swaps the parser's stream-backed buffer for a plain list (≈ 1 KB less per
 * connection).
 */
export function parserOf (client: Client): ParserInternals {
  const parser = (client as unknown as { _parser?: ParserInternals })._parser
  if (parser === undefined || typeof parser.parse !== 'function') throw new GatewayError('CSG_AEDES_UNSUPPORTED', 'aedes client has no _parser.parse')
  return parser
}

/** Puts `step` in front of the client's parser: it receives each chunk and the parse it wraps. */
export function wrapParse (client: Client, step: (parse: (chunk: Buffer) => unknown) => (chunk: Buffer) => unknown): void {
  const parser = parserOf(client)
  parser.parse = step(parser.parse.bind(parser))
}

/**
 * Aedes routes every publish through `broker.publish(packet, client, done)` — the three-argument
 * form is internal; its types only know `(packet, done)`. What a client publishes to the gateway
 * alone (telemetry, status, acknowledgements) must end at its PUBACK: routing it would hand it to
 * other clients (a crew's retained "ack" reached every crew) and cost about 9 % of the gateway's
 * CPU. `isConsumed` says which packets end there.
 */
export function skipRoutingOf (broker: Aedes, isConsumed: (packet: PublishPacket) => boolean): void {
  const route = broker.publish.bind(broker) as unknown as (packet: PublishPacket, client: Client | null, done?: (err?: Error) => void) => void
  Object.assign(broker, {
    publish: function publishUnlessConsumed (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) {
      if (typeof client === 'function') {
        route(packet, null, client)
        return
      }
      if (isConsumed(packet)) {
        done?.()
        return
      }
      route(packet, client, done)
    },
  })
}

/** The part of Aedes' persistence the gateway writes to directly. */
export interface RetainedStore {
  storeRetained(packet: { cmd: 'publish'; topic: string; payload: Buffer; qos: 0 | 1; retain: boolean }): Promise<void>
}

/**
 * `broker.persistence`, set up by `broker.listen()`. Retained alarm messages are written there
 * directly: a retained publish reaches subscribers one async step later than a plain one, and
 * Aedes drops any message numbered below one a client already got, so every gateway publish is a
 * plain one (see broker-out.ts); and removing a retained message must not deliver an empty one.
 */
export function retainedStoreOf (broker: Aedes): RetainedStore {
  const persistence = (broker as unknown as { persistence?: RetainedStore }).persistence
  if (persistence === undefined || typeof persistence.storeRetained !== 'function') throw new GatewayError('CSG_AEDES_UNSUPPORTED', 'aedes broker has no persistence.storeRetained (not listening yet?)')
  return persistence
}
