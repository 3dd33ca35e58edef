// What `citygw cluster status` reports: the live nodes, the telemetry stream's depth, how far the
// InfluxDB writer is behind, and which node runs the offline check. Read-only: it creates nothing.
import { jetstreamManager, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { LEASES_BUCKET, NODES_BUCKET, OFFLINE_LEASE_KEY, TELEMETRY_STREAM, WRITER_CONSUMER } from './names.ts'
import { nodeRecordSchema, type NodeRecord } from './node-heartbeat.ts'
import { bucketKeys } from './kv-key.ts'

export interface ClusterStatus {
  natsServers: string[]
  nodes: NodeRecord[]
  telemetry: { replicas: number, messages: number, bytes: number, oldestAgeSec: number | null } | null
  writer: { pending: number, ackPending: number, redelivered: number } | null
  offlineCheckHolder: string | null
}

async function orNull<T> (read: () => Promise<T>): Promise<T | null> {
  try {
    return await read()
  } catch (err) {
    if (err instanceof JetStreamApiError) return null // not created yet: no node has started
    throw err
  }
}

async function liveNodes (nc: NatsConnection): Promise<NodeRecord[]> {
  const kv = await new Kvm(nc).open(NODES_BUCKET)
  const nodes: NodeRecord[] = []
  for (const key of await bucketKeys(nc, NODES_BUCKET)) {
    const entry = await kv.get(key)
    if (entry === null || entry.operation !== 'PUT') continue
    const parsed = nodeRecordSchema.safeParse(entry.json())
    if (parsed.success) nodes.push(parsed.data)
  }
  return nodes.sort(function byName (a, b) { return a.node.localeCompare(b.node) })
}

async function leaseHolder (nc: NatsConnection): Promise<string | null> {
  const kv = await new Kvm(nc).open(LEASES_BUCKET)
  const entry = await kv.get(OFFLINE_LEASE_KEY)
  if (entry === null || entry.operation !== 'PUT') return null
  const text = entry.string()
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value === 'object' && value !== null && 'node' in value && typeof value.node === 'string') return value.node
  } catch { /* a plain name */ }
  return text
}

async function telemetryOf (jsm: JetStreamManager): Promise<ClusterStatus['telemetry']> {
  const info = await jsm.streams.info(TELEMETRY_STREAM)
  const first = info.state.messages > 0 ? Date.parse(info.state.first_ts) : Number.NaN
  return {
    replicas: info.config.num_replicas,
    messages: info.state.messages,
    bytes: info.state.bytes,
    oldestAgeSec: Number.isNaN(first) ? null : Math.max(0, Math.round((Date.now() - first) / 1000)),
  }
}

export async function readClusterStatus (nc: NatsConnection): Promise<ClusterStatus> {
  const jsm = await jetstreamManager(nc)
  const [nodes, telemetry, consumer, holder] = await Promise.all([
    orNull(function nodes () { return liveNodes(nc) }),
    orNull(function stream () { return telemetryOf(jsm) }),
    orNull(function writer () { return jsm.consumers.info(TELEMETRY_STREAM, WRITER_CONSUMER) }),
    orNull(function lease () { return leaseHolder(nc) }),
  ])
  return {
    natsServers: nc.info?.connect_urls ?? [],
    nodes: nodes ?? [],
    telemetry,
    writer: consumer === null ? null : { pending: consumer.num_pending, ackPending: consumer.num_ack_pending, redelivered: consumer.num_redelivered },
    offlineCheckHolder: holder,
  }
}
