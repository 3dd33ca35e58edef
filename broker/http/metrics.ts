// Prometheus metrics of one gateway instance (own prom-client Registry, so tests can run several).
// Stages receive the counters they update; gauges that mirror state are read at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface GaugeSources {
  connections(): number
  spool(): { depthBytes: number; depthRecords: number; oldestRecordAgeMs: number | null }
  alarmsActive(): number
  influxConnected(): boolean
}

/**
 * Per-message tallies of telemetry, plain numbers the ingest stage adds to; they move into
 * `citygw_messages_total` / `citygw_readings_total` whenever those are read (scrape or `get()`).
 * prom-client's `inc()` hashes its labels on every call: at thousands of messages a second that
 * showed in the bench's CPU and allocation profiles.
 */
export interface TelemetryTally {
  messagesAccepted: number
  messagesRejected: number
  readingsAccepted: number
  readingsRejected: number
}

export function createMetrics () {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'citygw_' })
  const registers = [registry]
  const telemetry: TelemetryTally = { messagesAccepted: 0, messagesRejected: 0, readingsAccepted: 0, readingsRejected: 0 }

  const metrics = {
    registry,
    authFailures: new Counter({ name: 'citygw_auth_failures_total', help: 'Refused MQTT CONNECTs by reason', labelNames: ['reason'] as const, registers }),
    aclDenials: new Counter({ name: 'citygw_acl_denials_total', help: 'Publishes or subscriptions outside a client\'s own topics', labelNames: ['action'] as const, registers }),
    telemetry,
    messages: tallyCounter('citygw_messages_total', 'Telemetry messages by outcome (accepted: at least one reading stored)', registers, telemetry, 'messagesAccepted', 'messagesRejected'),
    readings: tallyCounter('citygw_readings_total', 'Telemetry readings by outcome', registers, telemetry, 'readingsAccepted', 'readingsRejected'),
    spoolFullRefusals: new Counter({ name: 'citygw_spool_full_refusals_total', help: 'Messages refused because the spool reached its quota', registers }),
    influxWriteSeconds: new Histogram({
      name: 'citygw_influx_write_seconds',
      help: 'Latency of one batch write to InfluxDB',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    influxLinesWritten: new Counter({ name: 'citygw_influx_lines_written_total', help: 'Points accepted by InfluxDB', registers }),
    influxRetries: new Counter({ name: 'citygw_influx_retries_total', help: 'Batch writes retried after a retryable failure', registers }),
    influxQuarantined: new Counter({ name: 'citygw_influx_quarantined_lines_total', help: 'Points InfluxDB refused, kept in the quarantine file', registers }),
    limitsExceeded: new Counter({
      name: 'citygw_limits_exceeded_total',
      help: 'Events refused, slowed or cut by an abuse limit (connections, connections_per_ip, connect_timeout, login_backoff, login_lockout, keepalive, publish_rate, publish_rate_refused, topic_length, topic_depth, subscriptions, packet_size, ack_size, outgoing_buffer, write_stall, queued_messages, persistent_sessions, session_owner, api_streams_per_account, consumer_rate)',
      labelNames: ['limit'] as const,
      registers,
    }),
    connectionsAccepted: new Counter({
      name: 'citygw_mqtt_connections_accepted_total',
      help: 'Sockets the MQTT listeners accepted, by transport (tcp, tls, ws), counted before any limit, TLS handshake or CONNECT: the connect rate',
      labelNames: ['transport'] as const,
      registers,
    }),
    connackSeconds: new Histogram({
      name: 'citygw_mqtt_connack_seconds',
      help: 'Time from socket accept to the CONNACK of an accepted CONNECT (TLS handshake and WebSocket upgrade included)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    listenOverflows: new Counter({
      name: 'citygw_listen_overflows_total',
      help: 'Connection handshakes the kernel dropped because a listen queue was full (TcpExt ListenOverflows: counts every listener on the host, not only this gateway\'s)',
      registers,
    }),
    protocolErrors: new Counter({ name: 'citygw_protocol_errors_total', help: 'Connections closed for breaking the MQTT protocol, by reason (unacceptable_protocol, packet_id_zero)', labelNames: ['reason'] as const, registers }),
    alarmChanges: new Counter({ name: 'citygw_alarm_changes_total', help: 'Alarm state changes by change (raised, escalated, acknowledged, cleared) and severity', labelNames: ['change', 'severity'] as const, registers }),
    mailSent: new Counter({ name: 'citygw_mail_sent_total', help: 'Alarm e-mails the mail server accepted', registers }),
    mailFailed: new Counter({
      name: 'citygw_mail_failed_total',
      help: 'Alarm e-mail failures by reason (transient: a send attempt failed and is retried; refused: the server refused the mail for good, dropped; queue_full: dropped from a full queue)',
      labelNames: ['reason'] as const,
      registers,
    }),
    noticesSent: new Counter({ name: 'citygw_notices_total', help: 'Notices published on devices/{id}/errors', labelNames: ['type'] as const, registers }),
    apiSignIns: new Counter({
      name: 'citygw_api_sign_ins_total',
      help: 'API sign-ins by method (session: POST /api/session; basic: HTTP Basic on any /api request) and outcome (ok, refused, locked_out: a wrong secret beyond API_SIGNIN_PER_MIN)',
      labelNames: ['method', 'outcome'] as const,
      registers,
    }),
    apiStreamDrops: new Counter({
      name: 'citygw_api_stream_drops_total',
      help: 'Alarm streams (SSE) closed because the client did not read, by reason (buffer_full, drain_timeout)',
      labelNames: ['reason'] as const,
      registers,
    }),
  }
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>

/** A counter labelled outcome=accepted|rejected whose counts come from two tally fields at read time. */
function tallyCounter (
  name: string, help: string, registers: Registry[], tally: TelemetryTally, accepted: keyof TelemetryTally, rejected: keyof TelemetryTally,
): Counter<'outcome'> {
  function move (counter: Counter<'outcome'>, key: keyof TelemetryTally, outcome: string): void {
    const count = tally[key]
    if (count === 0) return
    tally[key] = 0
    counter.inc({ outcome }, count)
  }
  return new Counter({
    name,
    help,
    labelNames: ['outcome'] as const,
    registers,
    collect () {
      move(this, accepted, 'accepted')
      move(this, rejected, 'rejected')
    },
  })
}

/** Gauges read from the live stages at scrape time; called once the stages exist. */
export function registerGauges (metrics: Metrics, sources: GaugeSources): void {
  const registers = [metrics.registry]
  new Gauge({ name: 'citygw_mqtt_connections', help: 'Open MQTT client connections', registers, collect () { this.set(sources.connections()) } })
  new Gauge({ name: 'citygw_spool_depth_bytes', help: 'Bytes in the spool not yet accepted by InfluxDB', registers, collect () { this.set(sources.spool().depthBytes) } })
  new Gauge({ name: 'citygw_spool_depth_records', help: 'Messages in the spool not yet accepted by InfluxDB', registers, collect () { this.set(sources.spool().depthRecords) } })
  new Gauge({
    name: 'citygw_spool_oldest_age_seconds',
    help: 'Age of the oldest message waiting in the spool (0 when empty)',
    registers,
    collect () { this.set((sources.spool().oldestRecordAgeMs ?? 0) / 1000) },
  })
  new Gauge({ name: 'citygw_alarms_active', help: 'Open (active or acknowledged) alarms', registers, collect () { this.set(sources.alarmsActive()) } })
  new Gauge({ name: 'citygw_influx_up', help: '1 when the last write to InfluxDB succeeded', registers, collect () { this.set(sources.influxConnected() ? 1 : 0) } })
}

/** Gauges of a cluster node (NATS_URL set), read at scrape time; every metric carries the label `node`. */
export function registerClusterGauges (metrics: Metrics, sources: { jetstreamAvailable(): boolean; holdsOfflineCheck(): boolean; takeovers(): number }): void {
  const registers = [metrics.registry]
  new Gauge({ name: 'citygw_cluster_jetstream_up', help: '1 while JetStream acknowledges this node\'s telemetry (0: no PUBACK, /readyz 503)', registers, collect () { this.set(sources.jetstreamAvailable() ? 1 : 0) } })
  new Gauge({ name: 'citygw_cluster_offline_check_held', help: '1 on the node that holds the offline-check lease', registers, collect () { this.set(sources.holdsOfflineCheck() ? 1 : 0) } })
  new Gauge({ name: 'citygw_cluster_session_takeovers', help: 'Connections closed because their client id connected to another node (since start)', registers, collect () { this.set(sources.takeovers()) } })
}

/** Gauges of the API's alarm streams, read at scrape time. */
export function registerApiGauges (metrics: Metrics, streams: { open(): number; bufferedBytes(): number }): void {
  const registers = [metrics.registry]
  new Gauge({ name: 'citygw_api_streams', help: 'Open alarm streams (SSE)', registers, collect () { this.set(streams.open()) } })
  new Gauge({ name: 'citygw_api_stream_buffered_bytes', help: 'Bytes queued for alarm-stream clients and not yet sent', registers, collect () { this.set(streams.bufferedBytes()) } })
}

/** Gauge of the alarm e-mail queue (SMTP_URL set), read at scrape time. */
export function registerMailGauges (metrics: Metrics, mail: { depth(): number }): void {
  new Gauge({ name: 'citygw_mail_queue_depth', help: 'Alarm e-mails waiting in DATA_DIR/mail-queue to be sent', registers: [metrics.registry], collect () { this.set(mail.depth()) } })
}
