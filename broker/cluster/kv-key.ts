// KV keys: made from names the gateway does not control (device ids, node names), where a key's
// tokens are split on `.` and may not be empty and ids may contain dots anywhere (base64url keeps
// every id distinct and valid); and listed, the keys a bucket holds.
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'

export function kvKeyOf (name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url')
}

export function nameOfKvKey (key: string): string {
  return Buffer.from(key, 'base64url').toString('utf8')
}

/**
 * The keys of a bucket, each once, from its stream's subjects (one request, paged by the client).
 * The KV client's `keys()` reads the last message of every key through a consumer and stops when
 * nothing is pending: a key written again while it runs (a node's heartbeat) came twice, and with
 * steady writes the listing could wait for seconds. Keys deleted or purged are listed too (their
 * marker is their last message): callers skip entries that are not a PUT.
 */
export async function bucketKeys (nc: NatsConnection, bucket: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc)
  const prefix = `$KV.${bucket}.`
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` })
  return Object.keys(info.state.subjects ?? {}).map(function keyOf (subject) { return subject.slice(prefix.length) })
}
