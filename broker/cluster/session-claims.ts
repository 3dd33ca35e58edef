// Takeover across nodes: MQTT allows one connection per client id, and a device that reconnects
// through another node leaves its old connection half-open on the first (a phone switching cells,
// a NAT mapping gone). Each node announces every client id it accepted on core NATS; a node that
// holds an older connection with that id closes it, as Aedes does for a takeover on one node.
import type { Aedes, Client } from 'aedes'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import { z } from 'zod'
import type { Logger } from '../log.ts'
import { SESSION_CLAIM_SUBJECT } from './names.ts'

const claimSchema = z.object({
  clientId: z.string().max(65_535),
  node: z.string().max(64),
  /** Epoch ms at which the claiming node accepted the connection. */
  at: z.number(),
})
type Claim = z.infer<typeof claimSchema>

/** Larger claims are not ours: dropped before parsing. */
const MAX_CLAIM_BYTES = 70_000

export interface SessionClaims {
  /** Connections closed because their client id connected to another node later. */
  takeovers(): number
  close(): Promise<void>
}

export interface SessionClaimOptions {
  nc: NatsConnection
  broker: Aedes
  nodeName: string
  log: Logger
}

export function startSessionClaims (options: SessionClaimOptions): SessionClaims {
  const { nc, broker, nodeName } = options
  const log = options.log.child({ module: 'cluster' })
  /** Local connections by client id, with when each was accepted: an older claim from elsewhere must not close a newer one here. */
  const local = new Map<string, { client: Client, at: number }>()
  let takeovers = 0

  function announce (client: Client): void {
    const at = Date.now()
    local.set(client.id, { client, at })
    const claim: Claim = { clientId: client.id, node: nodeName, at }
    try {
      nc.publish(SESSION_CLAIM_SUBJECT, JSON.stringify(claim))
    } catch (err) {
      log.warn({ err, clientId: client.id }, 'session claim not announced')
    }
  }
  function forget (client: Client): void {
    if (local.get(client.id)?.client === client) local.delete(client.id)
  }
  broker.on('client', announce)
  broker.on('clientDisconnect', forget)

  /** The later connection wins; on the same millisecond the larger node name, so both nodes agree. */
  function isOlderThan (claim: Claim, localAt: number): boolean {
    return localAt < claim.at || (localAt === claim.at && nodeName < claim.node)
  }

  function onClaim (data: Uint8Array): void {
    if (data.length > MAX_CLAIM_BYTES) return
    let claim: Claim
    try {
      const parsed = claimSchema.safeParse(JSON.parse(Buffer.from(data).toString('utf8')))
      if (!parsed.success) return
      claim = parsed.data
    } catch {
      return
    }
    if (claim.node === nodeName) return
    const held = local.get(claim.clientId)
    if (held === undefined || !isOlderThan(claim, held.at)) return
    local.delete(claim.clientId)
    takeovers++
    log.info({ clientId: claim.clientId, node: claim.node, reason: 'session_taken_over' }, 'client connected to another node; closing its connection here')
    held.client.close()
  }

  const subscription: Subscription = nc.subscribe(SESSION_CLAIM_SUBJECT, {
    callback (err, msg) {
      if (err === null) onClaim(msg.data)
    },
  })

  return {
    takeovers () { return takeovers },
    async close () {
      broker.removeListener('client', announce)
      broker.removeListener('clientDisconnect', forget)
      subscription.unsubscribe()
      await subscription.closed.catch(function ignore () { /* closing anyway */ })
    },
  }
}
