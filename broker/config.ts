// Environment variables (and an optional JSON/YAML config file) → a validated, frozen Config.
// Parsed once in main.ts; a bad value stops the start with a message naming the variable.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { GatewayError } from './errors.ts'

const port = z.coerce.number().int().min(0).max(65535)
const optionalPort = port.optional()
const positiveInt = z.coerce.number().int().positive()
const nonEmpty = z.string().min(1)

/** Longest trusted-device lifetime API_DEVICE_TTL_DAYS accepts (the cluster's session bucket keeps keys a day longer). */
export const API_DEVICE_TTL_DAYS_MAX = 365

/** The console's default web map for navigate links (console/src/navigate.ts starts with the same). */
export const DEFAULT_MAP_NAV_URL = 'https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=19/{lat}/{lon}'

/** An http(s) URL once its placeholders are filled in, carrying every one of `placeholders`. */
function isUrlTemplate (text: string, placeholders: readonly string[], fill: Record<string, string>): boolean {
  if (!placeholders.every(function has (p) { return text.includes(`{${p}}`) })) return false
  const filled = text.replace(/\{([a-z]+)\}/g, function value (_match, name: string) { return fill[name] ?? 'x' })
  return z.url({ protocol: /^https?$/ }).safeParse(filled).success
}

function isTileUrlTemplate (text: string): boolean {
  return isUrlTemplate(text, ['z', 'x', 'y'], { z: '1', x: '1', y: '1', s: 'a', r: '' })
}

function isNavUrlTemplate (text: string): boolean {
  return isUrlTemplate(text, ['lat', 'lon'], { lat: '52.1', lon: '4.9' })
}

/** `a@b.example` or `Name <a@b.example>`. */
function isMailbox (text: string): boolean {
  const address = /^[^<>]*<([^<>\s]+)>$/.exec(text.trim())?.[1] ?? text.trim()
  return z.email().safeParse(address).success
}

/** Every setting, by the environment variable that sets it. The README's Configuration table documents each default. */
export const configSchema = z.object({
  MQTT_HOST: nonEmpty.default('0.0.0.0'),
  MQTT_PORT: port.default(1883),
  MQTTS_PORT: optionalPort,
  TLS_CERT: nonEmpty.optional(),
  TLS_KEY: nonEmpty.optional(),
  WS_PORT: optionalPort,
  HTTP_HOST: nonEmpty.default('0.0.0.0'),
  HTTP_PORT: port.default(8080),
  DATA_DIR: nonEmpty.default('./data'),
  /**
   * The data key file sealing personal data at rest (README "Personal data at rest"); unset =
   * DATA_DIR/data.key, created on first start. Resolved to an absolute path.
   */
  DATA_KEY_FILE: nonEmpty.optional(),
  INFLUX_URL: z.url({ protocol: /^https?$/ }).optional(),
  INFLUX_API: z.enum(['v1', 'v2']).default('v2'),
  INFLUX_TOKEN: nonEmpty.optional(),
  INFLUX_ORG: nonEmpty.optional(),
  INFLUX_BUCKET: nonEmpty.default('city'),
  INFLUX_DATABASE: nonEmpty.default('city'),
  INFLUX_USERNAME: nonEmpty.optional(),
  INFLUX_PASSWORD: nonEmpty.optional(),
  INFLUX_RETENTION_POLICY: nonEmpty.optional(),
  INFLUX_TIMEOUT_MS: positiveInt.default(10_000),
  /**
   * Most lines per sink write: the size of the batches a backlog is sent in (under steady load a
   * batch holds what gathered in INFLUX_FLUSH_MS). 20,000 because each write also costs a spool
   * commit and InfluxDB a WAL sync, so after an outage 20,000 caught up 1.5–1.8× faster than
   * 5,000 (catch-up at 2.9–3.5× instead of 1.9× the ingest rate, `npm run bench`; 40,000 gained
   * nothing more). 3–7 MB of line protocol (lamp-post lines are the longest), below the default
   * request limits of InfluxDB 1.x (25 MB), InfluxDB 3 (10 MiB) and VictoriaMetrics (32 MB); a
   * server that answers 413 anyway gets the batch in halves (CSG_SINK_REFUSED).
   */
  INFLUX_BATCH_LINES: positiveInt.default(20_000),
  /**
   * After a write that was not full, how long the next batch may gather; 0 = write at once.
   * Without it the writer sends whatever one fsync group holds, as often as it can: under steady
   * load that cost the gateway more CPU than everything else (`npm run bench`).
   */
  INFLUX_FLUSH_MS: z.coerce.number().int().min(0).max(60_000).default(250),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Largest telemetry payload that is parsed; larger ones get a notice and are kept in `rejected`. */
  MAX_MESSAGE_BYTES: positiveInt.default(64 * 1024),
  /** Largest MQTT packet at all, checked on the wire before it is buffered: larger closes the connection. */
  MAX_PACKET_BYTES: positiveInt.default(256 * 1024),
  /** Readings per telemetry message (a JSON array). */
  MAX_BATCH_READINGS: positiveInt.max(10_000).default(100),
  /** How far back a reading's ts may lie (days). */
  BACKFILL_DAYS: z.coerce.number().positive().default(30),
  SPOOL_MAX_BYTES: positiveInt.default(1024 * 1024 * 1024),
  SPOOL_SEGMENT_BYTES: positiveInt.default(64 * 1024 * 1024),
  /** Extra wait before an fsync so more appends share it; 0 = commit as soon as the disk is free. */
  SPOOL_GROUP_COMMIT_MS: z.coerce.number().min(0).max(1000).default(2),
  /** How often the registry file is checked for changes made by the CLI. */
  REGISTRY_POLL_MS: positiveInt.default(1000),
  /** Alarm rules overrides (YAML or JSON) per kind, district and device; re-read when it changes (polled like the registry). */
  ALARM_RULES_FILE: nonEmpty.optional(),
  /** Comma-separated URLs receiving every alarm change as a JSON POST. */
  ALARM_WEBHOOK_URLS: z.string().optional().transform(function splitUrls (text, ctx) {
    const urls = (text ?? '').split(',').map(function trim (u) { return u.trim() }).filter(Boolean)
    for (const url of urls) {
      if (!z.url({ protocol: /^https?$/ }).safeParse(url).success) ctx.addIssue({ code: 'custom', message: `not an http(s) URL: ${url}` })
    }
    return urls
  }),
  /** How often devices are checked for missing data (deviceOffline). */
  ALARM_OFFLINE_CHECK_MS: positiveInt.default(1000),
  /** CA certificate (PEM) that signs device client certificates; enables TLS_CLIENT_AUTH. Default off. */
  TLS_CA: nonEmpty.optional(),
  /** Client certificates on the TLS listener: `off`, `optional` (a verified one replaces the password), `require`. Default off. */
  TLS_CLIENT_AUTH: z.enum(['off', 'optional', 'require']).default('off'),
  /** Open connections at all (every listener); more are closed at accept. Default 50,000. */
  MAX_CONNECTIONS: positiveInt.default(50_000),
  /**
   * Accept queue of each MQTT listener: connections the kernel completes before the gateway takes
   * them. Default MAX_CONNECTIONS, so that every device may reconnect at once; the kernel caps it at
   * net.core.somaxconn (logged at start when it does).
   */
  LISTEN_BACKLOG: positiveInt.optional(),
  /** Open connections from one IP address (devices behind a NAT or private APN share one). Default 5,000. */
  MAX_CONNECTIONS_PER_IP: positiveInt.default(5000),
  /** Time from accept to CONNECT (and for the TLS handshake / WebSocket upgrade), ms. Default 10,000. */
  MQTT_CONNECT_TIMEOUT_MS: positiveInt.default(10_000),
  /** Largest keepalive a client may ask for (s); larger or 0 (none) is refused with return code 2. Default 3,600. */
  MQTT_KEEPALIVE_MAX_SEC: positiveInt.max(65_535).default(3600),
  /** Failed logins (per IP, per username) within AUTH_FAILURE_WINDOW_SEC before refusals are delayed. Default 5. */
  AUTH_FAILURES_BEFORE_BACKOFF: positiveInt.default(5),
  /** Failed logins within the window before the IP (or username, from unfamiliar IPs) is refused outright. Default 20. */
  AUTH_FAILURES_BEFORE_LOCKOUT: positiveInt.default(20),
  /** Window in which failed logins are counted, s. Default 60. */
  AUTH_FAILURE_WINDOW_SEC: positiveInt.default(60),
  /** Longest delay of a refused CONNACK during backoff (doubling from 1 s), ms. Default 10,000. */
  AUTH_BACKOFF_MAX_MS: z.coerce.number().int().min(0).default(10_000),
  /** How long a lockout lasts, s. Default 300. */
  AUTH_LOCKOUT_SEC: positiveInt.default(300),
  /** Sustained publishes per second per device or crew (token bucket); faster ones are paced by delaying their PUBACKs. Default 100. */
  PUBLISH_RATE_PER_SEC: z.coerce.number().positive().default(100),
  /** Token bucket size: publishes allowed in one burst (a backfill after an outage). Default 5,000. */
  PUBLISH_BURST: positiveInt.default(5000),
  /** Longest a publish above the rate is held before its PUBACK (pacing the device); further ahead it is refused without PUBACK and the connection closed, s. Default 10. */
  PUBLISH_DELAY_MAX_SEC: z.coerce.number().min(0).max(600).default(10),
  /** Bytes waiting to be sent to one MQTT client; a client that lets more pile up (does not read) is disconnected. Default 1 MiB. */
  MQTT_CLIENT_BUFFER_BYTES: positiveInt.min(16 * 1024).default(1024 * 1024),
  /** How long bytes may wait for one MQTT client without any of them being taken; longer, it is disconnected, s. Default 10. */
  MQTT_WRITE_STALL_SEC: positiveInt.max(3600).default(10),
  /** QoS 1 messages queued for one client session (while it is away or has not acknowledged them); beyond it the oldest is dropped. Default 1,000. */
  MQTT_MAX_QUEUED_MESSAGES: positiveInt.default(1000),
  /** Persistent sessions (clean = false) one crew account may keep; a new one replaces the least recently connected absent one. Default 10. */
  MQTT_MAX_SESSIONS_PER_CREW: positiveInt.default(10),
  /** Longest topic name or filter, bytes of UTF-8. Default 256. */
  MAX_TOPIC_BYTES: positiveInt.max(65_535).default(256),
  /** Most levels in a topic name or filter (Aedes caps it at 100). Default 8. */
  MAX_TOPIC_LEVELS: positiveInt.max(100).default(8),
  /** Subscriptions one client connection may hold. Default 32. */
  MAX_SUBSCRIPTIONS_PER_CLIENT: positiveInt.default(32),
  /** Abuse limits are logged (and devices told) at most once per offender per this period, s. Default 60. */
  LIMIT_LOG_INTERVAL_SEC: positiveInt.default(60),
  /** Lifetime of a console/API session (sign-in cookie), s. Default 43,200 (12 h, a shift). */
  API_SESSION_TTL_SEC: positiveInt.default(43_200),
  /** Lifetime of a trusted-device token (sign-in with "remember this device": cookie citygw_device), days. Default 30. */
  API_DEVICE_TTL_DAYS: positiveInt.max(API_DEVICE_TTL_DAYS_MAX).default(30),
  /**
   * Failed sign-ins (HTTP Basic on any /api route, POST /api/session) per account and client address
   * within a minute; further wrong secrets get 429, the right secret is still let in. Names that are
   * no account share one count per address. Default 10.
   */
  API_SIGNIN_PER_MIN: positiveInt.default(10),
  /**
   * Bytes an alarm stream (SSE) may hold unsent for a client that does not read; beyond it the stream
   * is closed. A burst of about 1,500 alarm changes fits in the default 1 MiB.
   */
  API_STREAM_BUFFER_BYTES: positiveInt.min(4096).default(1024 * 1024),
  /** How long an alarm stream's unsent data may wait for the client to take it before the stream is closed, ms. Default 20,000. */
  API_STREAM_DRAIN_TIMEOUT_MS: positiveInt.default(20_000),
  /** Alarm streams one account may hold open at once (phones and consoles sharing it); more get 429. Default 20. */
  API_STREAMS_PER_ACCOUNT: positiveInt.default(20),
  /** HTTP requests one outside consumer may make per minute; more get 429 with Retry-After. Crews and operators are not limited by it. Default 600. */
  CONSUMER_RATE_PER_MIN: positiveInt.default(600),
  /**
   * Map tiles for the console's map: an http(s) URL template with {z}, {x} and {y} (and optionally
   * {s} or {r}, as Leaflet reads them). Unset = the offline drawing of devices from their coordinates.
   */
  MAP_TILE_URL: z.string().max(500).refine(isTileUrlTemplate, 'must be an http(s) URL template with {z}, {x} and {y}').optional(),
  /** Attribution shown on the map with MAP_TILE_URL's tiles (most tile providers require one). */
  MAP_TILE_ATTRIBUTION: z.string().min(1).max(300).default('© OpenStreetMap contributors'),
  /** Web map URL template with {lat} and {lon}, opened by the console's "Web map" links. */
  MAP_NAV_URL: z.string().max(500).refine(isNavUrlTemplate, 'must be an http(s) URL template with {lat} and {lon}').default(DEFAULT_MAP_NAV_URL),
  /** Alarm e-mail: smtp:// (STARTTLS when offered) or smtps:// server URL, credentials allowed (never logged). Unset = no e-mail. */
  SMTP_URL: z.url({ protocol: /^smtps?$/, message: 'must be an smtp:// or smtps:// URL' }).max(2000).optional(),
  /** The From of alarm e-mail: `alarms@city.example` or `City sensors <alarms@city.example>`. */
  SMTP_FROM: z.string().max(320).refine(isMailbox, 'must be an e-mail address, optionally as "Name <address>"').optional(),
  /** Connecting to the mail server, its greeting and any silence during a send, ms. Default 20,000. */
  SMTP_TIMEOUT_MS: positiveInt.default(20_000),
  /** Longest wait between attempts while mail cannot be sent (jittered, doubling from 1 s), ms. Default 60,000. */
  SMTP_RETRY_MAX_MS: positiveInt.min(1000).default(60_000),
  /** The crew console's address as crews reach it, for links in alarm e-mail. */
  CONSOLE_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(500).optional(),
  /** NGSI-LD context broker (e.g. Orion-LD) base URL; set = readings and alarm changes are exported to it. */
  NGSI_LD_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(500).optional(),
  /** Sent as the NGSILD-Tenant header. */
  NGSI_LD_TENANT: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 - _').optional(),
  /** Sent as `Authorization: Bearer …`; never logged nor written to disk. */
  NGSI_LD_TOKEN: nonEmpty.optional(),
  /** The @context every exported entity carries. */
  NGSI_LD_CONTEXT: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(500).default('https://smartdatamodels.org/context.jsonld'),
  /** Spool lines folded into pending entities per round. */
  NGSI_LD_BATCH_LINES: positiveInt.default(20_000),
  /** Entities per upsert request. */
  NGSI_LD_BATCH_ENTITIES: positiveInt.max(10_000).default(500),
  NGSI_LD_FLUSH_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  NGSI_LD_TIMEOUT_MS: positiveInt.default(10_000),
  /**
   * Cluster mode: comma-separated NATS servers (nats:// or tls://) of a JetStream cluster. Unset =
   * single node (local spool, registry.json, alarms.json).
   */
  NATS_URL: z.string().optional().transform(function splitServers (text, ctx) {
    const servers = (text ?? '').split(',').map(function trim (u) { return u.trim() }).filter(Boolean)
    for (const server of servers) {
      if (!/^(nats|tls):\/\/[^\s/]+$/.test(server)) ctx.addIssue({ code: 'custom', message: `not a nats:// or tls:// server address: ${server}` })
    }
    return servers
  }),
  /** User and password for the NATS servers (with NATS_PASSWORD). */
  NATS_USER: nonEmpty.optional(),
  NATS_PASSWORD: nonEmpty.optional(),
  /** Token for the NATS servers (instead of NATS_USER / NATS_PASSWORD). */
  NATS_TOKEN: nonEmpty.optional(),
  /** CA certificate (PEM) that signs the NATS servers' certificates. */
  NATS_TLS_CA: nonEmpty.optional(),
  /** Copies JetStream keeps of each stream and bucket: 1, 3 or 5. Default 3 when the NATS cluster has at least 3 servers, else 1. */
  NATS_REPLICAS: z.coerce.number().int().refine(function isOdd (n) { return n === 1 || n === 3 || n === 5 }, 'must be 1, 3 or 5').optional(),
  /**
   * ack_wait of the InfluxDB writers' consumer: a dead node's unwritten telemetry goes to another
   * node after it. Every node must use the same value (a present consumer is checked, not changed).
   */
  NATS_ACK_WAIT_MS: z.coerce.number().int().min(2000).max(600_000).default(30_000),
  /** This gateway node's name in logs, metrics and `citygw cluster status`. Default: host name and MQTT port. */
  NODE_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 - _ .').optional(),
}).superRefine(function checkCombinations (cfg, ctx) {
  if (cfg.MAX_PACKET_BYTES < cfg.MAX_MESSAGE_BYTES) {
    ctx.addIssue({ code: 'custom', path: ['MAX_PACKET_BYTES'], message: 'must be at least MAX_MESSAGE_BYTES' })
  }
  if (cfg.MQTTS_PORT !== undefined && (cfg.TLS_CERT === undefined || cfg.TLS_KEY === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['MQTTS_PORT'], message: 'needs TLS_CERT and TLS_KEY' })
  }
  if (cfg.TLS_CLIENT_AUTH !== 'off' && (cfg.TLS_CA === undefined || cfg.MQTTS_PORT === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['TLS_CLIENT_AUTH'], message: 'needs TLS_CA and MQTTS_PORT' })
  }
  if ((cfg.NATS_USER === undefined) !== (cfg.NATS_PASSWORD === undefined)) {
    ctx.addIssue({ code: 'custom', path: [cfg.NATS_USER === undefined ? 'NATS_USER' : 'NATS_PASSWORD'], message: 'NATS_USER and NATS_PASSWORD go together' })
  }
  if (cfg.NATS_TOKEN !== undefined && cfg.NATS_USER !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['NATS_TOKEN'], message: 'use either NATS_TOKEN or NATS_USER / NATS_PASSWORD' })
  }
  const natsOnly = (['NATS_USER', 'NATS_TOKEN', 'NATS_TLS_CA', 'NATS_REPLICAS'] as const).filter(function isSet (key) { return cfg[key] !== undefined })
  if (cfg.NATS_URL.length === 0 && natsOnly.length > 0) {
    ctx.addIssue({ code: 'custom', path: [natsOnly[0] as string], message: 'needs NATS_URL (cluster mode)' })
  }
  if (cfg.NGSI_LD_URL !== undefined && cfg.NATS_URL.length > 0 && cfg.INFLUX_URL === undefined) {
    ctx.addIssue({ code: 'custom', path: ['NGSI_LD_URL'], message: 'in cluster mode (NATS_URL) needs INFLUX_URL: the export takes what the InfluxDB writer takes from the telemetry stream' })
  }
  const ngsiOnly = (['NGSI_LD_TENANT', 'NGSI_LD_TOKEN'] as const).filter(function isSet (key) { return cfg[key] !== undefined })
  if (cfg.NGSI_LD_URL === undefined && ngsiOnly.length > 0) {
    ctx.addIssue({ code: 'custom', path: [ngsiOnly[0] as string], message: 'needs NGSI_LD_URL' })
  }
  if ((cfg.SMTP_URL === undefined) !== (cfg.SMTP_FROM === undefined)) {
    ctx.addIssue({ code: 'custom', path: [cfg.SMTP_URL === undefined ? 'SMTP_FROM' : 'SMTP_URL'], message: cfg.SMTP_URL === undefined ? 'needs SMTP_URL' : 'needs SMTP_FROM' })
  }
  if (cfg.AUTH_FAILURES_BEFORE_LOCKOUT < cfg.AUTH_FAILURES_BEFORE_BACKOFF) {
    ctx.addIssue({ code: 'custom', path: ['AUTH_FAILURES_BEFORE_LOCKOUT'], message: 'must be at least AUTH_FAILURES_BEFORE_BACKOFF' })
  }
})

export type Config = Readonly<z.infer<typeof configSchema>>

// Fixed values no operator needs to tune; main.ts passes them down with the settings, so that no
// module keeps a default of its own.

/** How far a reading's ts may be ahead of the gateway's clock, ms. */
export const MAX_FUTURE_MS = 5 * 60_000

/** How the InfluxDB writer retries, ms. */
export const INFLUX_RETRY = Object.freeze({
  /** First retry delay cap (full jitter, doubling per failure). */
  retryInitialMs: 100,
  /**
   * Largest retry delay. One gateway probing one database: a short cap costs InfluxDB nothing and
   * gets the backlog moving within seconds of its return (a 30 s cap left the bench's catch-up waiting).
   */
  retryMaxMs: 5_000,
  /** Retry period while the server refuses the credentials. */
  unauthorizedRetryMs: 30_000,
  /** Longest Retry-After honoured. */
  retryAfterMaxMs: 300_000,
})

/** The cluster's telemetry log (a JetStream stream in place of the spool): timings and bounds. */
export const TELEMETRY_LOG = Object.freeze({
  /** An append JetStream has not acknowledged this long after it was made is refused (the device sends it again), ms. */
  appendTimeoutMs: 10_000,
  /** Longest wait for one PubAck before the message is sent again with the same id, ms. */
  attemptTimeoutMs: 2_000,
  /** Pause before the first resend, doubling up to retryMaxMs, ms: a leader election takes a second or two. */
  retryInitialMs: 50,
  retryMaxMs: 1_000,
  /**
   * Publishes awaiting their PubAck at once (pipelining); appends arriving meanwhile form the next
   * messages. Measured (test/bench/telemetry-log-throughput.ts: R3 on a 3-server loopback cluster on
   * the same 2 cores, one-line records in open loop): every setting kept up with 120,000 appends/s;
   * at 60,000–120,000/s one in flight doubled the median ack latency (1.9–2.9 ms against 0.9–1.1 ms
   * with 4) and its p99 (30–33 ms against 11–16 ms); 8 and 16 did no better than 4.
   */
  maxInFlight: 4,
  /** Largest message (a group of records) and the stream's max_msg_size, bytes: well below NATS's 1 MiB max_payload, and fetches are sized by it. */
  maxMessageBytes: 256 * 1024,
  /** Bytes of appends awaiting their acknowledgement beyond which appends are refused at once. */
  maxPendingBytes: 64 * 1024 ** 2,
  /** The stream's duplicate window: a message id seen within it is not stored again, ms. */
  duplicateWindowMs: 120_000,
  /**
   * Messages delivered to writers and not yet acknowledged, all nodes together. A node holds at most
   * its writer's batch and what it fetched ahead (each at most prefetchMessages): room for several
   * nodes, so that one whose InfluxDB is out of reach cannot hold up the others.
   */
  maxAckPending: 50_000,
  /** Bytes and messages a node fetches ahead of its writer at most (a batch is cut from them). */
  prefetchBytes: 16 * 1024 ** 2,
  prefetchMessages: 5_000,
  /** How long one pull request waits on the server for messages, ms; closing waits for the last one to end. */
  pullExpiresMs: 2_000,
  /** Longest wait for the server to confirm an acknowledgement, ms. */
  ackTimeoutMs: 5_000,
  /** How often the stream's depth is read for the figures, ms. */
  statsIntervalMs: 1_000,
})

/** The cluster's quarantine stream: lines InfluxDB refused are kept for people to look at, the oldest dropped first. */
export const CLUSTER_QUARANTINE = Object.freeze({
  maxBytes: 1024 ** 3,
  maxAgeMs: 30 * 24 * 60 * 60 * 1000,
  /** Longest wait for one entry's PubAck; the writer keeps the batch and tries again after it, ms. */
  publishTimeoutMs: 5_000,
})

/**
 * Alarm webhooks: per-request timeout (ms), attempts per alarm change, changes queued per URL, and
 * the jittered backoff between attempts (from 200 ms, doubling, at most 30 s: eight attempts span
 * about a minute, long enough for a receiver's restart).
 */
export const WEBHOOK_LIMITS = Object.freeze({
  timeoutMs: 5000,
  maxAttempts: 8,
  maxQueued: 1000,
  retryBaseMs: 200,
  retryMaxMs: 30_000,
})

/**
 * Alarm e-mail: mails waiting in DATA_DIR/mail-queue at most (beyond it the oldest is dropped,
 * logged; each is a few KiB), and the first backoff after a failed send (doubling up to
 * SMTP_RETRY_MAX_MS).
 */
export const MAIL_LIMITS = Object.freeze({
  maxQueued: 5000,
  retryBaseMs: 1000,
})

/**
 * Handles polling each MQTT listening socket (accept-handles.ts): under load the event loop accepts
 * up to this many connections per turn instead of one.
 */
export const ACCEPT_HANDLES_PER_LISTENER = 8

/**
 * File descriptors kept from MQTT connections for the spool, InfluxDB, the API, NATS and data files:
 * the connection limit is at most the open-file limit minus this (open-file-limit.ts).
 */
export const FD_RESERVE = 256

/**
 * While connections keep arriving, established clients' bytes are parsed within what is left of a
 * short target turn. Measured with 200 publishers at full speed and 2,000 connects at once on 2
 * cores: 2 ms / 0.25 ms accepted 380–520 connections/s and kept 60–85 % of the telemetry rate
 * during the storm; 4 ms / 0.5 ms accepted about 290/s.
 */
export const CONNECT_PRIORITY = Object.freeze({
  /** Length a loop turn aims at while connections keep arriving, ms. */
  stormTurnMs: 2,
  /** Parsing time established clients get in every such turn however long the rest took, ms. */
  minParseMs: 0.25,
  /** Bytes one client may have waiting; more are parsed at once (bounds memory under a flood). */
  maxHeldBytesPerClient: 64 * 1024,
})

/** How often the host's listen-queue overflow counter is read, ms. */
export const LISTEN_OVERFLOW_POLL_MS = 5000

/** How often clients' outgoing buffers are looked at for stalls, ms (well below MQTT_WRITE_STALL_SEC). */
export const OUTGOING_STALL_CHECK_MS = 1000

/** Live API sessions at most; beyond it the oldest is ended. */
export const API_MAX_SESSIONS = 10_000

/** Keep-alive comment interval of alarm streams (SSE), ms; each also re-checks the session. */
export const API_STREAM_HEARTBEAT_MS = 20_000

/** A device is told about the same unknown field at most once per this period, ms: an extra field in every reading is not worth a notice with every message. */
export const UNKNOWN_FIELD_NOTICE_INTERVAL_MS = 60 * 60 * 1000
export type ConfigInput = Record<string, string | number | undefined>

/** Names of the settings, for the README and `citygw config`. */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof z.infer<typeof configSchema>)[]

/**
 * Builds the Config from environment variables; `CONFIG_FILE` (JSON or YAML, keys named like the
 * variables) supplies values the environment does not set. Throws GatewayError CSG_CONFIG_INVALID
 * naming every bad variable.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const fromFile = env.CONFIG_FILE === undefined ? {} : readConfigFile(env.CONFIG_FILE)
  const input: ConfigInput = { ...fromFile }
  for (const key of CONFIG_KEYS) {
    const value = env[key]
    if (value !== undefined && value !== '') input[key] = value
  }
  const parsed = configSchema.safeParse(input)
  if (!parsed.success) {
    const problems = parsed.error.issues.map(function describeIssue (issue) {
      return `${issue.path.join('.') || '(config)'}: ${issue.message}`
    })
    throw new GatewayError('CSG_CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`)
  }
  return Object.freeze({ ...parsed.data, DATA_DIR: path.resolve(parsed.data.DATA_DIR), ...(parsed.data.DATA_KEY_FILE === undefined ? {} : { DATA_KEY_FILE: path.resolve(parsed.data.DATA_KEY_FILE) }) })
}

function readConfigFile (file: string): ConfigInput {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new GatewayError('CSG_CONFIG_INVALID', `CONFIG_FILE: cannot read ${file}`, { cause: err })
  }
  const data: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  const record = z.record(z.string(), z.union([z.string(), z.number()])).safeParse(data ?? {})
  if (!record.success) {
    throw new GatewayError('CSG_CONFIG_INVALID', `CONFIG_FILE: ${file} must map variable names to strings or numbers`)
  }
  const unknown = Object.keys(record.data).filter(function isUnknownKey (key) {
    return !(CONFIG_KEYS as string[]).includes(key)
  })
  if (unknown.length > 0) {
    throw new GatewayError('CSG_CONFIG_INVALID', `CONFIG_FILE: unknown setting(s) ${unknown.join(', ')}`)
  }
  return record.data
}
