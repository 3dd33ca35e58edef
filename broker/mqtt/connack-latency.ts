// Aedes' 'connackSent' → the time from socket accept to an accepted CONNECT's CONNACK, for the
// metrics. Refusals are left out: backoff delays them on purpose. The accept time is the one the
// listener put in the connection info, so TLS handshakes and WebSocket upgrades are included.
import { performance } from 'node:perf_hooks'
import type { Aedes, Client, ConnackPacket } from 'aedes'
import { connectionInfoOf } from './connection-info.ts'

export function observeConnackLatency (broker: Aedes, observe: (seconds: number) => void): void {
  broker.on('connackSent', function connackSent (packet: ConnackPacket, client: Client) {
    if (packet.returnCode !== 0) return
    const acceptedAtMs = connectionInfoOf(client.conn).acceptedAtMs
    if (acceptedAtMs !== undefined) observe((performance.now() - acceptedAtMs) / 1000)
  })
}
