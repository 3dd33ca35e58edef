// Enters: valid readings as line-protocol lines, one record per MQTT message, from any gateway node.
// Leaves: batches of whole JetStream messages to this node's InfluxDB writer, shared with the other
// nodes' writers through one durable consumer, until a commit acknowledges them.
// Guarantees: append resolves only after JetStream stored the record on the stream's replicas (PUBACK
// ⇒ in the cluster); a message leaves the work-queue stream only once a writer's ack was confirmed;
// a dead node's messages go to the others after ack_wait. Implements the spool's interface, so the
// writer runs on it unchanged.
import { randomBytes } from 'node:crypto'
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, ReplayPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { nanos, type NatsConnection } from '@nats-io/transport-node'
import type { TELEMETRY_LOG } from '../config.ts'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { Spool, SpoolBatch, SpoolStats } from '../spool/spool.ts'
import { watchConnection, type ConnectionState } from './connection-state.ts'
import { ensureConsumer } from './consumer-setup.ts'
import { ensureStream } from './jetstream-setup.ts'
import { LogPublisher, recordBytes } from './log-publisher.ts'
import { LogReader } from './log-reader.ts'
import { watchStream, type StreamWatch } from './log-stats.ts'
import { TELEMETRY_STREAM, TELEMETRY_SUBJECT, WRITER_CONSUMER } from './names.ts'

/** Timings and bounds; the gateway passes TELEMETRY_LOG (config.ts), where each is explained. */
export type TelemetryLogSettings = { readonly [K in keyof typeof TELEMETRY_LOG]: number }

export interface TelemetryLogOptions extends TelemetryLogSettings {
  nc: NatsConnection
  /** Made from `nc` when absent. */
  js?: JetStreamClient
  jsm?: JetStreamManager
  /** num_replicas of the stream and its consumer (NATS_REPLICAS). */
  replicas: number
  /** This node's name (NODE_NAME): message ids are `${nodeName}.${bootId}.${n}`. */
  nodeName: string
  /** The stream's max_bytes (SPOOL_MAX_BYTES): beyond it appends reject with CSG_SPOOL_FULL. */
  maxBytes: number
  log: Logger
}

export interface TelemetryLogStats extends SpoolStats {
  /** What available() says. */
  available: boolean
  /** Bytes of appends awaiting JetStream's acknowledgement. */
  pendingBytes: number
  publishesInFlight: number
  /** Acknowledgements marked duplicate: resends whose first attempt had been stored (and was not stored twice). */
  duplicates: number
  /** Messages this node's writer holds or fetched ahead, kept from redelivery. */
  heldMessages: number
  /** Messages delivered to this node that had been delivered before (to it or another node). */
  redeliveredMessages: number
}

/**
 * The spool of a cluster node. Records are JetStream messages of one or more MQTT messages' lines
 * (group commit): `depthRecords`, `records` of a batch and `fsyncs` count those messages;
 * `appendedRecords` counts appends; `segments` is 0 (no files).
 */
export interface TelemetryLog extends Spool {
  /** False while NATS is disconnected or publishes are failing: appends would not be acknowledged (readiness answers 503). */
  available(): boolean
  stats(): TelemetryLogStats
}

/** Room left in a message for its headers (Nats-Msg-Id) within the stream's max_msg_size. */
const HEADER_ROOM_BYTES = 1024

export async function openTelemetryLog (options: TelemetryLogOptions): Promise<TelemetryLog> {
  checkOptions(options)
  const log = options.log.child({ module: 'telemetry-log' })
  const { nc } = options
  const js = options.js ?? jetstream(nc)
  const jsm = options.jsm ?? await jetstreamManager(nc)
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024
  const messageCap = Math.min(options.maxMessageBytes, maxPayload - HEADER_ROOM_BYTES)

  const stream = await ensureStream(jsm, {
    name: TELEMETRY_STREAM,
    subjects: [TELEMETRY_SUBJECT],
    storage: StorageType.File,
    num_replicas: options.replicas,
    retention: RetentionPolicy.Workqueue,
    max_bytes: options.maxBytes,
    // Full means refused (no PUBACK), never dropping what was acknowledged.
    discard: DiscardPolicy.New,
    duplicate_window: nanos(options.duplicateWindowMs),
    max_msg_size: messageCap + HEADER_ROOM_BYTES,
  })
  if (stream.config.discard !== DiscardPolicy.New) {
    throw new GatewayError('CSG_NATS_MISMATCH', `stream ${TELEMETRY_STREAM} exists with discard ${stream.config.discard}: a full stream would drop acknowledged telemetry; set discard new with the nats CLI`)
  }
  if (stream.config.max_bytes !== options.maxBytes) {
    log.warn({ streamMaxBytes: stream.config.max_bytes, maxBytes: options.maxBytes }, 'telemetry stream exists with another max_bytes; it keeps its own (change it with the nats CLI)')
  }
  // A present stream may take larger messages than this node writes: fetches are sized by what it takes.
  const streamMessageCap = stream.config.max_msg_size > 0 ? Math.min(stream.config.max_msg_size, maxPayload) : maxPayload
  await ensureConsumer(jsm, TELEMETRY_STREAM, {
    durable_name: WRITER_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(options.ackWaitMs),
    max_ack_pending: options.maxAckPending,
    // Never given up on: a message stays until a writer stored or quarantined its lines.
    max_deliver: -1,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
  })
  const consumer = await js.consumers.get(TELEMETRY_STREAM, WRITER_CONSUMER)

  const bootId = randomBytes(6).toString('base64url')
  const publisher = new LogPublisher({
    js,
    subject: TELEMETRY_SUBJECT,
    msgIdPrefix: `${options.nodeName}.${bootId}`,
    maxMessageBytes: Math.min(messageCap, streamMessageCap - HEADER_ROOM_BYTES),
    maxInFlight: options.maxInFlight,
    maxPendingBytes: options.maxPendingBytes,
    appendTimeoutMs: options.appendTimeoutMs,
    attemptTimeoutMs: options.attemptTimeoutMs,
    retryInitialMs: options.retryInitialMs,
    retryMaxMs: options.retryMaxMs,
    log,
  })
  const reader = new LogReader({
    nc,
    consumer,
    ackWaitMs: options.ackWaitMs,
    prefetchBytes: Math.max(options.prefetchBytes, 2 * streamMessageCap),
    prefetchMessages: options.prefetchMessages,
    maxMessageBytes: streamMessageCap,
    pullExpiresMs: options.pullExpiresMs,
    ackTimeoutMs: options.ackTimeoutMs,
    log,
  })
  const watch = watchStream(jsm, TELEMETRY_STREAM, options.statsIntervalMs, log, stream.state, function streamAnswered (askedAtMs) {
    publisher.noteReachable(askedAtMs)
  })
  const telemetryLog = new JetStreamTelemetryLog(nc, publisher, reader, watch, watchConnection(nc, log), log, options.ackTimeoutMs)
  log.info({ ...telemetryLog.stats(), replicas: stream.config.num_replicas, bootId, maxMessageBytes: messageCap }, 'telemetry log opened')
  return telemetryLog
}

function checkOptions (options: TelemetryLogOptions): void {
  const positive: (keyof TelemetryLogOptions)[] = ['replicas', 'maxBytes', 'appendTimeoutMs', 'attemptTimeoutMs', 'retryInitialMs', 'retryMaxMs', 'maxInFlight',
    'maxMessageBytes', 'maxPendingBytes', 'duplicateWindowMs', 'ackWaitMs', 'maxAckPending', 'prefetchBytes', 'prefetchMessages', 'pullExpiresMs', 'ackTimeoutMs', 'statsIntervalMs']
  const bad = positive.find(function isNotPositive (key) {
    const value = options[key]
    return !(typeof value === 'number' && Number.isSafeInteger(value) && value > 0)
  }) ?? (options.nodeName === '' ? 'nodeName' : undefined)
  if (bad !== undefined) throw new GatewayError('CSG_CONFIG_INVALID', `telemetry log option ${bad} is invalid`)
  if (options.pullExpiresMs < 1000) throw new GatewayError('CSG_CONFIG_INVALID', 'telemetry log option pullExpiresMs must be at least 1000 (the client\'s floor)')
}

class JetStreamTelemetryLog implements TelemetryLog {
  private closed = false
  private closing: Promise<void> | null = null

  constructor (
    private readonly nc: NatsConnection,
    private readonly publisher: LogPublisher,
    private readonly reader: LogReader,
    private readonly watch: StreamWatch,
    private readonly connection: ConnectionState,
    private readonly log: Logger,
    private readonly flushTimeoutMs: number,
  ) {}

  append (lines: readonly string[]): Promise<void> {
    if (this.closed) return Promise.reject(new GatewayError('CSG_SPOOL_CLOSED'))
    if (lines.length === 0) return Promise.reject(new TypeError('telemetry log: a record needs at least one line'))
    const bytes = recordBytes(lines)
    return this.publisher.append(lines, bytes)
  }

  read (maxLines: number, signal?: AbortSignal): Promise<SpoolBatch | null> {
    if (this.closed) return Promise.resolve(null)
    return this.reader.read(maxLines, signal)
  }

  commit (batch: SpoolBatch): Promise<void> {
    return this.reader.commit(batch)
  }

  rewind (): void {
    this.reader.rewind()
  }

  available (): boolean {
    return this.connection.isConnected && this.publisher.failingSince === null
  }

  stats (): TelemetryLogStats {
    const depth = this.watch.depth()
    const { publisher, reader } = this
    return {
      depthBytes: depth.bytes,
      depthRecords: depth.messages,
      oldestRecordAgeMs: depth.oldestMs === null ? null : Math.max(0, Date.now() - depth.oldestMs),
      segments: 0,
      appendedRecords: publisher.acknowledgedRecords,
      fsyncs: publisher.acknowledgedMessages,
      available: this.available(),
      pendingBytes: publisher.pendingBytes,
      publishesInFlight: publisher.publishesInFlight,
      duplicates: publisher.duplicates,
      heldMessages: reader.heldMessages,
      redeliveredMessages: reader.receivedMessages.redelivered,
    }
  }

  close (): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown (): Promise<void> {
    this.closed = true
    // Appends made before close still get their answer (each bounded by appendTimeoutMs).
    await this.publisher.drain()
    await this.reader.close()
    await this.watch.close()
    this.connection.close()
    // The naks of what this node held must leave before the caller closes the connection.
    await flushWithin(this.nc, this.flushTimeoutMs).catch((err: unknown) => {
      this.log.warn({ err }, 'could not flush the NATS connection on close; held telemetry returns after ack_wait')
    })
    this.log.info(this.stats(), 'telemetry log closed')
  }
}

async function flushWithin (nc: NatsConnection, timeoutMs: number): Promise<void> {
  if (nc.isClosed()) return
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>(function rejectLater (_resolve, reject) {
    timer = setTimeout(function flushTimedOut () { reject(new Error(`no flush within ${timeoutMs} ms`)) }, timeoutMs)
  })
  try {
    await Promise.race([nc.flush(), timeout])
  } finally {
    clearTimeout(timer)
  }
}
