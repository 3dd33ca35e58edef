// CONNECT → Aedes' preConnect and authenticate hooks: what the CONNECT asks for is remembered at
// preConnect (Aedes passes only credentials to authenticate), the connect guard decides, and a
// refusal goes back with its CONNACK code, after its backoff delay when there is one.
import type { Aedes, AuthenticateError, Client } from 'aedes'
import { connectionInfoOf } from '../connection-info.ts'
import type { ConnectGuard } from '../guards/connect-guard.ts'
import type { ClientTable } from './client-table.ts'

/** Error for Aedes' authenticate callback; `returnCode` goes into the CONNACK [MQTT-3.2.2-3]. */
function connectRefusal (reason: string, returnCode: 2 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(reason), { returnCode })
}

export function installAuthenticate (broker: Aedes, guard: ConnectGuard, clients: ClientTable): void {
  const connects = new WeakMap<Client, { keepaliveSec: number; willTopic: string | undefined; clean: boolean }>()

  broker.preConnect = function preConnect (client, packet, callback) {
    connects.set(client, { keepaliveSec: packet.keepalive ?? 0, willTopic: packet.will?.topic, clean: packet.clean !== false })
    callback(null, true)
  }

  broker.authenticate = function authenticate (client, username, password, callback) {
    const info = connectionInfoOf(client.conn)
    const connect = connects.get(client)
    const decision = guard.decide({
      clientId: client.id,
      username: username ?? undefined,
      password: password ?? undefined,
      keepaliveSec: connect?.keepaliveSec,
      ip: info.remoteAddress,
      clientCertCn: info.clientCertCn,
      willTopic: connect?.willTopic,
      clean: connect?.clean ?? true,
    })
    if (!decision.ok) {
      const { reason, returnCode, delayMs } = decision
      if (delayMs === 0) {
        callback(connectRefusal(reason, returnCode), false)
        return
      }
      // Backoff: the refusal waits; Aedes ignores it if the client went away meanwhile.
      setTimeout(function refuseLater () { callback(connectRefusal(reason, returnCode), false) }, delayMs).unref()
      return
    }
    clients.admit(client, decision.identity)
    decision.identity.log.debug({ transport: info.transport, byCertificate: info.clientCertCn !== undefined }, 'connected')
    callback(null, true)
  }
}
