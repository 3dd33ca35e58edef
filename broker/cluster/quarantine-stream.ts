// Enters: lines InfluxDB refused, with the reason, from any node's writer.
// Leaves: one JSON message per line (the file quarantine's format) on the stream csg-quarantine,
// shared by the cluster; the nats CLI or any consumer reads it.
// Guarantees: add resolves only after JetStream acknowledged the entry. The stream keeps entries by
// limits (size, age), dropping the oldest: it is for people to look at, not a path back to InfluxDB.
import { createHash } from 'node:crypto'
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { CLUSTER_QUARANTINE } from '../config.ts'
import type { Quarantine, QuarantineEntry } from '../influx/quarantine.ts'
import { ensureStream } from './jetstream-setup.ts'
import { QUARANTINE_STREAM, QUARANTINE_SUBJECT } from './names.ts'

export type StreamQuarantineSettings = { readonly [K in keyof typeof CLUSTER_QUARANTINE]: number }

export interface StreamQuarantineOptions extends StreamQuarantineSettings {
  js: JetStreamClient
  jsm: JetStreamManager
  /** num_replicas of the stream (NATS_REPLICAS). */
  replicas: number
}

/** Creates or checks the quarantine stream; entries are published to it. */
export async function openStreamQuarantine (options: StreamQuarantineOptions): Promise<Quarantine> {
  await ensureStream(options.jsm, {
    name: QUARANTINE_STREAM,
    subjects: [QUARANTINE_SUBJECT],
    storage: StorageType.File,
    num_replicas: options.replicas,
    retention: RetentionPolicy.Limits,
    max_bytes: options.maxBytes,
    max_age: nanos(options.maxAgeMs),
    discard: DiscardPolicy.Old,
  })
  const { js, publishTimeoutMs } = options
  return {
    async add (entry: QuarantineEntry): Promise<void> {
      // The same line refused for the same reason within the duplicate window is one entry: a batch
      // whose quarantine went unacknowledged is written again, by this node or another.
      const msgID = createHash('sha256').update(`${entry.reason}\n${entry.line}`).digest('base64url')
      await js.publish(QUARANTINE_SUBJECT, JSON.stringify(entry), { msgID, timeout: publishTimeoutMs })
    },
  }
}
