// A gateway node's membership of the cluster: the NATS connection, its name, the replicas its
// streams and buckets get, and its heartbeat in the nodes bucket. The stages that share state
// (telemetry log, registry, alarms, session claims) are built on top of it in main.ts.
import { hostname } from 'node:os'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Config } from '../config.ts'
import type { Logger } from '../log.ts'
import { connectNats, replicasFor } from './connection.ts'
import { ensureBucket } from './jetstream-setup.ts'
import { NODES_BUCKET } from './names.ts'
import { NODE_TTL_MS, startNodeHeartbeat, type NodeHeartbeat } from './node-heartbeat.ts'

export interface ClusterNode {
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
  readonly nodeName: string
  /** Replicas of every stream and bucket this node creates (NATS_REPLICAS or the cluster's default). */
  readonly replicas: number
  /** Starts renewing this node's entry in the nodes bucket (once the listeners know their ports). */
  startHeartbeat(ports: Record<string, number>, connections: () => number): void
  /** Removes the heartbeat, drains and closes the NATS connection. */
  close(): Promise<void>
}

/** NODE_NAME, or the host name and MQTT port (the process id when the port is chosen by the system). */
export function nodeNameOf (config: Pick<Config, 'NODE_NAME' | 'MQTT_PORT'>): string {
  return config.NODE_NAME ?? `${hostname()}-${config.MQTT_PORT === 0 ? `pid${process.pid}` : config.MQTT_PORT}`
}

export async function joinCluster (config: Config, log: Logger): Promise<ClusterNode> {
  const nodeName = nodeNameOf(config)
  const nc = await connectNats(config, `citygw ${nodeName}`, log)
  try {
    const jsm = await jetstreamManager(nc)
    const replicas = await replicasFor(nc, config.NATS_REPLICAS)
    const nodesKv = await ensureBucket(nc, jsm, NODES_BUCKET, { replicas, history: 1, ttl: NODE_TTL_MS })
    log.info({ replicas, natsServers: nc.info?.connect_urls?.length ?? 1 }, 'joined the cluster')
    let heartbeat: NodeHeartbeat | undefined
    return {
      nc,
      jsm,
      nodeName,
      replicas,
      startHeartbeat (ports, connections) {
        heartbeat ??= startNodeHeartbeat({ kv: nodesKv, nodeName, host: hostname(), ports, connections, log })
      },
      async close () {
        await heartbeat?.close()
        await nc.drain().catch(function closeInstead () { return nc.close() })
      },
    }
  } catch (err) {
    await nc.close()
    throw err
  }
}
