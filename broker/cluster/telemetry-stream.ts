// The telemetry log's stream and the writers' consumer, created or checked at start (never changed:
// other nodes use them). What matters to correctness is checked: replicas and work-queue retention
// (ensureStream), discard new (a full stream refuses, never drops what was acknowledged), and the
// consumer's delivery settings (ensureConsumer).
import { AckPolicy, DeliverPolicy, DiscardPolicy, ReplayPolicy, RetentionPolicy, StorageType, type ConsumerInfo, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { ensureConsumer } from './consumer-setup.ts'
import { ensureStream } from './jetstream-setup.ts'
import { TELEMETRY_STREAM, TELEMETRY_SUBJECT, WRITER_CONSUMER } from './names.ts'

/** Room in a message for its headers (Nats-Msg-Id) within the stream's max_msg_size, bytes. */
export const HEADER_ROOM_BYTES = 1024

export interface TelemetryStreamSpec {
  replicas: number
  /** max_bytes: beyond it publishes are refused. */
  maxBytes: number
  duplicateWindowMs: number
  /** Largest payload this node writes; the stream's max_msg_size leaves HEADER_ROOM_BYTES more. */
  maxMessageBytes: number
}

export interface TelemetryStream {
  info: StreamInfo
  /** Largest message the stream takes, headers included (its max_msg_size, or the server's max_payload). */
  maxMessageBytes: number
}

export async function ensureTelemetryStream (jsm: JetStreamManager, spec: TelemetryStreamSpec, maxPayload: number, log: Logger): Promise<TelemetryStream> {
  const info = await ensureStream(jsm, {
    name: TELEMETRY_STREAM,
    subjects: [TELEMETRY_SUBJECT],
    storage: StorageType.File,
    num_replicas: spec.replicas,
    retention: RetentionPolicy.Workqueue,
    max_bytes: spec.maxBytes,
    discard: DiscardPolicy.New,
    duplicate_window: nanos(spec.duplicateWindowMs),
    max_msg_size: spec.maxMessageBytes + HEADER_ROOM_BYTES,
  })
  if (info.config.discard !== DiscardPolicy.New) {
    throw new GatewayError('CSG_NATS_MISMATCH', `stream ${TELEMETRY_STREAM} exists with discard ${info.config.discard}: a full stream would drop acknowledged telemetry; set discard new with the nats CLI`)
  }
  if (info.config.max_bytes !== spec.maxBytes) {
    log.warn({ streamMaxBytes: info.config.max_bytes, maxBytes: spec.maxBytes }, 'telemetry stream exists with another max_bytes; it keeps its own (change it with the nats CLI)')
  }
  const maxMessageBytes = info.config.max_msg_size > 0 ? Math.min(info.config.max_msg_size, maxPayload) : maxPayload
  if (maxMessageBytes <= 4 * HEADER_ROOM_BYTES) {
    throw new GatewayError('CSG_NATS_MISMATCH', `stream ${TELEMETRY_STREAM} takes messages of at most ${maxMessageBytes} bytes: too small for telemetry; raise its max_msg_size with the nats CLI`)
  }
  return { info, maxMessageBytes }
}

export interface WriterConsumerSpec {
  ackWaitMs: number
  maxAckPending: number
}

export function ensureWriterConsumer (jsm: JetStreamManager, spec: WriterConsumerSpec): Promise<ConsumerInfo> {
  return ensureConsumer(jsm, TELEMETRY_STREAM, {
    durable_name: WRITER_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
    // Never given up on: a message stays until a writer stored or quarantined its lines.
    max_deliver: -1,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
  })
}
