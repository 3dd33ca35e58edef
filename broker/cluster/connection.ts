// The NATS connection of a cluster node: from NATS_URL and its credentials to a connected client,
// or a start-up error naming the variable at fault. After start-up the client reconnects forever
// (any server of the list); callers see the outage as failed or slow JetStream calls.
import { readFile } from 'node:fs/promises'
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream'
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node'
import type { Config } from '../config.ts'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { NODES_BUCKET, REGISTRY_BUCKET } from './names.ts'

export type NatsSettings = Pick<Config, 'NATS_URL' | 'NATS_USER' | 'NATS_PASSWORD' | 'NATS_TOKEN' | 'NATS_TLS_CA'>

/** Time a first connection may take before the start fails, ms. */
const CONNECT_TIMEOUT_MS = 5000
/** Pause between reconnect attempts after start-up, ms (jittered by the client). */
const RECONNECT_WAIT_MS = 250

export async function connectNats (settings: NatsSettings, name: string, log: Logger): Promise<NatsConnection> {
  const options: ConnectionOptions = {
    servers: [...settings.NATS_URL],
    name,
    timeout: CONNECT_TIMEOUT_MS,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
    ...(settings.NATS_USER === undefined ? {} : { user: settings.NATS_USER, pass: settings.NATS_PASSWORD ?? '' }),
    ...(settings.NATS_TOKEN === undefined ? {} : { token: settings.NATS_TOKEN }),
  }
  if (settings.NATS_TLS_CA !== undefined) {
    try {
      options.tls = { ca: await readFile(settings.NATS_TLS_CA, 'utf8') }
    } catch (err) {
      throw new GatewayError('CSG_CONFIG_INVALID', `NATS_TLS_CA: cannot read ${settings.NATS_TLS_CA}`, { cause: err })
    }
  }
  let nc: NatsConnection
  try {
    nc = await connect(options)
  } catch (err) {
    throw startError(err, settings)
  }
  const info = nc.info
  if (info?.jetstream !== true) {
    await nc.close()
    throw new GatewayError('CSG_NATS_UNREACHABLE', `NATS_URL: ${info?.server_name ?? 'the server'} has no JetStream (start nats-server with -js / a jetstream block)`)
  }
  log.info({ server: info.server_name, cluster: info.cluster ?? null, servers: serverCount(nc) }, 'connected to NATS')
  watchStatus(nc, log)
  return nc
}

/** Servers of the NATS cluster the connection knows of (each advertises the cluster's client URLs). */
export function serverCount (nc: NatsConnection): number {
  return Math.max(1, nc.info?.connect_urls?.length ?? 1)
}

/**
 * NATS_REPLICAS; without it, the replicas of the cluster's registry or nodes bucket when one exists
 * (whoever created the first one decided, and every node and command must agree with it), else 3
 * when the NATS cluster has at least 3 servers, else 1. The server count comes from the servers'
 * gossip, which a connection made while the cluster is busy may not have complete yet: it only
 * decides for a cluster that has nothing of the gateway's yet.
 */
export async function replicasFor (nc: NatsConnection, configured: number | undefined): Promise<number> {
  if (configured !== undefined) return configured
  const jsm = await jetstreamManager(nc)
  for (const stream of EXISTING_FIRST) {
    try {
      return (await jsm.streams.info(stream)).config.num_replicas
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err
    }
  }
  return serverCount(nc) >= 3 ? 3 : 1
}

/** Streams whose replicas a node adopts when NATS_REPLICAS is not set, in this order. */
const EXISTING_FIRST = [`KV_${REGISTRY_BUCKET}`, `KV_${NODES_BUCKET}`]

function startError (err: unknown, settings: NatsSettings): GatewayError {
  const message = err instanceof Error ? err.message : String(err)
  if (/auth|authorization|permission/i.test(message)) {
    const variables = settings.NATS_TOKEN !== undefined ? 'NATS_TOKEN' : settings.NATS_USER !== undefined ? 'NATS_USER / NATS_PASSWORD' : 'NATS_USER / NATS_PASSWORD or NATS_TOKEN (none set)'
    return new GatewayError('CSG_NATS_AUTH', `NATS refused the credentials (${variables}): ${message}`, { cause: err })
  }
  return new GatewayError('CSG_NATS_UNREACHABLE', `NATS_URL: no server of ${settings.NATS_URL.join(', ')} could be reached (${message})`, { cause: err })
}

/** One log line per connection change: a node that lost NATS stops acknowledging telemetry. */
function watchStatus (nc: NatsConnection, log: Logger): void {
  void (async function logStatus () {
    for await (const status of nc.status()) {
      if (status.type === 'ping') continue
      const detail = { type: status.type, server: 'server' in status ? status.server : undefined }
      if (status.type === 'disconnect' || status.type === 'error') log.warn(detail, 'NATS connection changed')
      else log.info(detail, 'NATS connection changed')
    }
  })().catch(function statusEnded (err: unknown) { log.debug({ err }, 'NATS status stream ended') })
}
