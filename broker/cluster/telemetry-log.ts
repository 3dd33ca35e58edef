// Enters: valid readings as line-protocol lines, one record per MQTT message, from any gateway node.
// Leaves: batches of whole JetStream messages to this node's InfluxDB writer, shared with the other
// nodes' writers through one durable consumer, until a commit acknowledges them.
// Guarantees: append resolves only after JetStream stored the record on the stream's replicas (PUBACK
// ⇒ in the cluster); a message leaves the work-queue stream only once a writer's ack was confirmed;
// a dead node's messages go to the others after ack_wait. Implements the spool's interface, so the
// writer runs on it unchanged.
import { randomBytes } from 'node:crypto'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { TELEMETRY_LOG } from '../config.ts'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import type { Spool, SpoolBatch, SpoolStats } from '../spool/spool.ts'
import { watchConnection, type ConnectionState } from './connection-state.ts'
import { LogPublisher, recordBytes } from './log-publisher.ts'
import { LogReader } from './log-reader.ts'
import { watchStream, type StreamWatch } from './log-stats.ts'
import { TELEMETRY_STREAM, TELEMETRY_SUBJECT, WRITER_CONSUMER } from './names.ts'
import { ensureTelemetryStream, ensureWriterConsumer, HEADER_ROOM_BYTES } from './telemetry-stream.ts'

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
  /** ack_wait of the writers' consumer (NATS_ACK_WAIT_MS): a dead node's messages go to the other nodes after it, ms. */
  ackWaitMs: number
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
  /** Of those, redeliveries of a message this node had already (held, or stored lately): dropped, not written again. */
  duplicateDeliveries: number
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

export async function openTelemetryLog (options: TelemetryLogOptions): Promise<TelemetryLog> {
  checkOptions(options)
  const log = options.log.child({ module: 'telemetry-log' })
  const { nc } = options
  const js = options.js ?? jetstream(nc)
  const jsm = options.jsm ?? await jetstreamManager(nc)
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024
  const stream = await ensureTelemetryStream(jsm, {
    replicas: options.replicas,
    maxBytes: options.maxBytes,
    duplicateWindowMs: options.duplicateWindowMs,
    maxMessageBytes: Math.min(options.maxMessageBytes, maxPayload - HEADER_ROOM_BYTES),
  }, maxPayload, log)
  await ensureWriterConsumer(jsm, options)
  const consumer = await js.consumers.get(TELEMETRY_STREAM, WRITER_CONSUMER)
  // A present stream may take other sizes than this node asks for: write what it takes, fetch by it.
  const maxMessageBytes = Math.min(options.maxMessageBytes, stream.maxMessageBytes - HEADER_ROOM_BYTES)

  const bootId = randomBytes(6).toString('base64url')
  const publisher = new LogPublisher({
    js,
    subject: TELEMETRY_SUBJECT,
    msgIdPrefix: `${options.nodeName}.${bootId}`,
    maxMessageBytes,
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
    prefetchBytes: Math.max(options.prefetchBytes, 2 * stream.maxMessageBytes),
    prefetchMessages: options.prefetchMessages,
    maxMessageBytes: stream.maxMessageBytes,
    pullExpiresMs: options.pullExpiresMs,
    ackTimeoutMs: options.ackTimeoutMs,
    log,
  })
  const watch = watchStream(jsm, TELEMETRY_STREAM, options.statsIntervalMs, log, stream.info.state, function streamAnswered (askedAtMs) {
    publisher.noteReachable(askedAtMs)
  })
  const telemetryLog = new JetStreamTelemetryLog(nc, publisher, reader, watch, watchConnection(nc, log), log, options.ackTimeoutMs)
  log.info({ ...telemetryLog.stats(), replicas: stream.info.config.num_replicas, bootId, maxMessageBytes }, 'telemetry log opened')
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
      duplicateDeliveries: reader.receivedMessages.duplicates,
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
