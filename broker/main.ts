// Composition root: wires the stages in the order a reading flows through them
// (listeners → authentication → topic → validation → spool → writer) and closes them in reverse.
import { mkdir } from 'node:fs/promises'
import { jetstream } from '@nats-io/jetstream'
import path from 'node:path'
import { CLUSTER_QUARANTINE, MAIL_LIMITS, MAX_FUTURE_MS, TELEMETRY_LOG, UNKNOWN_FIELD_NOTICE_INTERVAL_MS, WEBHOOK_LIMITS, type Config } from './config.ts'
import { GatewayError } from './errors.ts'
import { joinCluster, type ClusterNode } from './cluster/node.ts'
import { openRegistryBucket } from './cluster/registry-bucket.ts'
import { openKvRegistry } from './cluster/registry-kv.ts'
import { openStreamQuarantine } from './cluster/quarantine-stream.ts'
import { openTelemetryLog } from './cluster/telemetry-log.ts'
import { startSessionClaims } from './cluster/session-claims.ts'
import { startStaRelay } from './cluster/sta-relay.ts'
import { openNgsiNewest } from './cluster/ngsi-newest.ts'
import { openSessionStore } from './cluster/configured-session-store.ts'
import { acquireLockFile, lockHolder } from './lock-file.ts'
import { openDataKey } from './crypto/data-key.ts'
import { createMetrics, registerClusterGauges, registerGauges, registerMailGauges } from './http/metrics.ts'
import { startHttpServer } from './http/server.ts'
import { createDeviceTable } from './api/device-table.ts'
import { apiSettingsOf } from './api/settings.ts'
import { createInfluxQlClient } from './api/influxql.ts'
import { createSeriesReader } from './api/series.ts'
import { createIngest } from './ingest/ingest.ts'
import type { Notice } from './ingest/notices.ts'
import { startInfluxOutput } from './influx/output.ts'
import { logSpoolBacklog } from './spool/backlog-log.ts'
import { openSpool, type LocalSpool, type Spool } from './spool/spool.ts'
import { createAccessLog } from './consumers/access-log.ts'
import { NGSI_FOLLOWER, isNgsiEnabled, startNgsiOutput } from './ngsi/output.ts'
import { createPushFeed, teeCommits } from './ngsi/push-feed.ts'
import type { Logger } from './log.ts'
import { startAlarms } from './alarms/index.ts'
import { registryGroups } from './alarms/registry-groups.ts'
import { createBrokerOut } from './mqtt/broker-out.ts'
import type { DeviceIdentity } from './mqtt/authenticate.ts'
import { createAbuseLimits } from './mqtt/guards/index.ts'
import { startBroker } from './mqtt/broker.ts'
import { installHooks } from './mqtt/hooks/index.ts'
import { startMqttListeners } from './mqtt/start-listeners.ts'
import { openRegistry } from './registry/registry.ts'
import { createStaFeed } from './sta/mqtt-feed.ts'
import { STA_PREFIX } from './sta/routes.ts'
import { openMaintenanceStore, startGate } from './maintenance/configured-store.ts'
import { registryPath } from './registry/store.ts'

export interface Gateway {
  readonly ports: { mqtt: number; mqtts?: number; ws?: number; http: number }
  readonly metrics: ReturnType<typeof createMetrics>
  /** Reads the registry file now (it is also polled; SIGHUP triggers this in `citygw start`). */
  reloadRegistry(): Promise<void>
  /** Stops accepting, lets in-flight appends finish, stops the writer, closes files. Idempotent. */
  close(): Promise<void>
}

const DAY_MS = 24 * 60 * 60 * 1000
const BACKLOG_LOG_INTERVAL_MS = 60_000

export async function startGateway (config: Config, rootLog: Logger): Promise<Gateway> {
  let log = rootLog
  await mkdir(config.DATA_DIR, { recursive: true, mode: 0o700 })
  const closers: { name: string; close(): Promise<void> | void }[] = []
  // Two gateways on one DATA_DIR would interleave spool writes and deliver each other's records.
  const lockFile = path.join(config.DATA_DIR, 'gateway.lock')
  const releaseLock = await acquireLockFile(lockFile, 0)
  if (releaseLock === undefined) {
    throw new GatewayError('CSG_DATA_DIR_LOCKED', `DATA_DIR ${config.DATA_DIR} is in use by process ${String(await lockHolder(lockFile))}`)
  }
  closers.push({ name: 'data-dir lock', close: releaseLock })
  try {
    // Cluster mode (NATS_URL): the node joins first and leaves last; every stage shares through it.
    let cluster: ClusterNode | undefined
    if (config.NATS_URL.length > 0) {
      cluster = await joinCluster(config, rootLog)
      const node = cluster
      closers.push({ name: 'cluster', close () { return node.close() } })
      log = rootLog.child({ node: node.nodeName })
    }
    const metrics = createMetrics()
    if (cluster !== undefined) metrics.registry.setDefaultLabels({ node: cluster.nodeName })

    const registry = cluster === undefined
      ? await openRegistry({ file: registryPath(config.DATA_DIR), pollMs: config.REGISTRY_POLL_MS, log })
      : await openKvRegistry({ bucket: await openRegistryBucket(cluster.nc, cluster.replicas), log })
    closers.push({ name: 'registry', close () { registry.close() } })

    // Accepted telemetry waits here for InfluxDB: the local spool, or in a cluster the replicated
    // JetStream log every node's writer drains (a dead node's share goes to the others).
    const telemetryLog = cluster === undefined
      ? undefined
      : await openTelemetryLog({ ...TELEMETRY_LOG, ackWaitMs: config.NATS_ACK_WAIT_MS, nc: cluster.nc, jsm: cluster.jsm, replicas: cluster.replicas, nodeName: cluster.nodeName, maxBytes: config.SPOOL_MAX_BYTES, log })
    const localSpool: LocalSpool | undefined = telemetryLog === undefined
      ? await openSpool({
        dir: path.join(config.DATA_DIR, 'spool'),
        maxBytes: config.SPOOL_MAX_BYTES,
        segmentBytes: config.SPOOL_SEGMENT_BYTES,
        groupCommitMs: config.SPOOL_GROUP_COMMIT_MS,
        // The NGSI-LD export reads the same records on a cursor of its own.
        followers: isNgsiEnabled(config) ? [NGSI_FOLLOWER] : [],
        log,
      })
      : undefined
    const spool: Spool = telemetryLog ?? localSpool as LocalSpool
    closers.push({ name: telemetryLog === undefined ? 'spool' : 'telemetry log', close () { return spool.close() } })

    const quarantine = cluster === undefined
      ? undefined
      : await openStreamQuarantine({ ...CLUSTER_QUARANTINE, js: jetstream(cluster.nc), jsm: cluster.jsm, replicas: cluster.replicas })
    // NGSI-LD export: on a spool cursor of its own; in a cluster, handed what this node's writer takes
    // from the work-queue stream (one consumer only), before the writer acknowledges it.
    const ngsiFeed = telemetryLog !== undefined && isNgsiEnabled(config) ? createPushFeed() : undefined
    const ngsi = !isNgsiEnabled(config)
      ? undefined
      : await startNgsiOutput(config, ngsiFeed ?? (localSpool as LocalSpool).follower(NGSI_FOLLOWER), function locationOf (id) {
        const device = registry.getDevice(id)
        return device?.lat === undefined || device.lon === undefined ? undefined : { lat: device.lat, lon: device.lon }
      }, metrics.registry, log, cluster === undefined || ngsiFeed === undefined ? undefined : await openNgsiNewest(cluster, config.BACKFILL_DAYS * DAY_MS))
    if (ngsi !== undefined) {
      closers.push({
        name: 'NGSI-LD export',
        async close () {
          await ngsi.close()
          ngsiFeed?.close()
        },
      })
    }
    const output = startInfluxOutput(config, ngsiFeed === undefined ? spool : teeCommits(spool, ngsiFeed), metrics, log, quarantine)
    if (output !== undefined) closers.push({ name: 'influx output', close () { return output.close() } })
    const writer = output?.writer

    const abuseLimits = createAbuseLimits(config, metrics, log)
    const mqtt = await startBroker(config, metrics, abuseLimits.throttle, log)
    const broker = mqtt.broker
    closers.push({ name: 'broker', close () { return mqtt.close() } })

    const claims = cluster === undefined ? undefined : startSessionClaims({ nc: cluster.nc, broker, nodeName: cluster.nodeName, log })
    if (claims !== undefined) closers.push({ name: 'session claims', close () { return claims.close() } })

    const out = createBrokerOut(broker)
    function publishNotice (device: DeviceIdentity, notice: Notice): void {
      metrics.noticesSent.inc({ type: notice.status })
      out.publish(device.topics.errors, Buffer.from(JSON.stringify(notice)), false).catch(function noticeLost (err: unknown) {
        device.log.warn({ err }, 'notice not delivered')
      })
    }

    // Personal data at rest is sealed with this key; sealed data it cannot open stops the start here,
    // before maintenance windows, alarms and sessions, the first to read or write it.
    const cipher = await openDataKey({ dataDir: config.DATA_DIR, keyFile: config.DATA_KEY_FILE, isCluster: cluster !== undefined, log: rootLog })

    // Maintenance windows: alarms of covered devices are recorded but held back from crews.
    const maintenance = await openMaintenanceStore(config, cluster, log, cipher)
    closers.push({ name: 'maintenance', close () { return maintenance.close() } })
    const maintenanceGate = startGate(maintenance, registry, log)
    closers.push({ name: 'maintenance gate', close () { maintenanceGate.close() } })

    const alarms = await startAlarms({
      dataDir: config.DATA_DIR,
      rulesFile: config.ALARM_RULES_FILE,
      pollMs: config.REGISTRY_POLL_MS,
      webhookUrls: config.ALARM_WEBHOOK_URLS,
      webhookLimits: WEBHOOK_LIMITS,
      offlineCheckMs: config.ALARM_OFFLINE_CHECK_MS,
      out,
      spool,
      log,
      throttle: abuseLimits.throttle,
      maintenance: maintenanceGate,
      groups: registryGroups(registry),
      cipher,
      onEvent (event) { metrics.alarmChanges.inc({ change: event.change, severity: event.alarm.severity }) },
      mail: config.SMTP_URL === undefined || config.SMTP_FROM === undefined
        ? undefined
        : {
            smtpUrl: config.SMTP_URL,
            from: config.SMTP_FROM,
            timeoutMs: config.SMTP_TIMEOUT_MS,
            retryBaseMs: MAIL_LIMITS.retryBaseMs,
            retryMaxMs: config.SMTP_RETRY_MAX_MS,
            maxQueued: MAIL_LIMITS.maxQueued,
            consoleUrl: config.CONSOLE_URL,
            mapNavUrl: config.MAP_NAV_URL,
            onSent () { metrics.mailSent.inc() },
            onFailed (reason) { metrics.mailFailed.inc({ reason }) },
          },
      cluster: cluster === undefined
        ? undefined
        : {
            nc: cluster.nc,
            replicas: cluster.replicas,
            nodeName: cluster.nodeName,
            deviceOf (id) {
              const device = registry.getDevice(id)
              if (device === undefined) return undefined
              return { id, kind: device.kind, district: device.district, location: device.lat === undefined || device.lon === undefined ? undefined : { lat: device.lat, lon: device.lon } }
            },
          },
    })
    closers.push({ name: 'alarms', close () { return alarms.close() } })
    if (alarms.mail !== undefined) registerMailGauges(metrics, alarms.mail)

    // SensorThings Observations over MQTT, to crews subscribed on v1.1/…; links point at the HTTP API.
    let httpPort = config.HTTP_PORT
    const staFeed = createStaFeed({
      broker,
      registry,
      log,
      baseUrl () { return config.CONSOLE_URL === undefined ? `http://${config.HTTP_HOST}:${httpPort}${STA_PREFIX}` : new URL(STA_PREFIX, config.CONSOLE_URL).href },
    })
    closers.push({ name: 'sta feed', close () { staFeed.close() } })
    // In a cluster every node's subscribers get every node's Observations, sent only while wanted.
    const staRelay = cluster === undefined ? undefined : startStaRelay({ nc: cluster.nc, nodeName: cluster.nodeName, feed: staFeed, log })
    if (staRelay !== undefined) closers.push({ name: 'sta relay', close () { return staRelay.close() } })

    // Online, last seen and latest values for the API.
    const deviceTable = createDeviceTable()
    const ingest = createIngest({
      spool,
      metrics,
      log,
      maxMessageBytes: config.MAX_MESSAGE_BYTES,
      maxBatchReadings: config.MAX_BATCH_READINGS,
      backfillMs: config.BACKFILL_DAYS * DAY_MS,
      maxFutureMs: MAX_FUTURE_MS,
      unknownFieldNoticeIntervalMs: UNKNOWN_FIELD_NOTICE_INTERVAL_MS,
      publishNotice,
      throttle: abuseLimits.throttle,
      onReadings (device, readings) {
        deviceTable.onReadings(device.id, device.kind.fieldNames, readings)
        alarms.onReadings(device, readings)
        staFeed.onReadings(device, readings)
        staRelay?.onReadings(device, readings)
      },
    })
    const hooks = installHooks(broker, {
      registry,
      ingest,
      metrics,
      log,
      ...abuseLimits.hooks(spool, publishNotice),
      outgoing: mqtt.outgoing,
      qos2: mqtt.qos2,
      crewSessions: mqtt.crewSessions,
      sta: staFeed,
      onAcknowledge (crew, alarm, payload) {
        alarms.acknowledge(crew, alarm, payload)
        return Promise.resolve()
      },
      onIncidentAck (crew, target, payload) {
        alarms.acknowledgeIncident(crew, target, payload)
        return Promise.resolve()
      },
    })
    registry.onRevoked(function disconnectRevoked (names) { hooks.disconnect(names) })
    registry.onRevoked(function forgetRemoved (names) {
      for (const name of names) if (registry.getDevice(name) === undefined) deviceTable.forget(name)
    })
    broker.on('client', function deviceOnline (client) {
      const identity = hooks.identityOf(client)
      if (identity?.role === 'device') deviceTable.onConnected(identity.id)
    })
    broker.on('clientDisconnect', function deviceOffline (client) {
      const identity = hooks.identityOf(client)
      if (identity?.role === 'device') deviceTable.onDisconnected(identity.id)
    })

    const listeners = await startMqttListeners(broker, config, { ...abuseLimits.listeners, outgoing: mqtt.outgoing }, metrics, log)
    closers.push({ name: 'listeners', close () { return listeners.close() } })

    const backlogLog = logSpoolBacklog(spool, function isDelivering () { return writer?.state().connected === true }, BACKLOG_LOG_INTERVAL_MS, log)
    closers.push({ name: 'backlog log', close () { backlogLog.close() } })

    registerGauges(metrics, {
      connections () { return listeners.connections() },
      spool () { return spool.stats() },
      alarmsActive () { return alarms.activeCount() },
      influxConnected () { return writer?.state().connected ?? false },
    })
    if (telemetryLog !== undefined && claims !== undefined) {
      registerClusterGauges(metrics, {
        jetstreamAvailable () { return telemetryLog.available() },
        holdsOfflineCheck () { return alarms.holdsOfflineCheck() },
        takeovers () { return claims.takeovers() },
      })
    }

    // API sessions and trusted devices, kept across restarts (sessions.json, or the cluster's bucket).
    const sessions = await openSessionStore(config, cluster, log, cipher)
    closers.push({ name: 'sessions', close () { return sessions.close() } })

    const http = await startHttpServer({
      host: config.HTTP_HOST,
      port: config.HTTP_PORT,
      metrics,
      log,
      api: {
        registry,
        alarms,
        devices: deviceTable,
        sessions,
        maintenance,
        access: createAccessLog({ spool }),
        series: output === undefined ? undefined : createSeriesReader(output.connection),
        influxQl: output === undefined ? undefined : createInfluxQlClient(output.connection),
        cipher,
        ...apiSettingsOf(config),
        onSignIn (method, outcome) { metrics.apiSignIns.inc({ method, outcome }) },
        onStreamDropped (reason) { metrics.apiStreamDrops.inc({ reason }) },
        onLimit (limit) { metrics.limitsExceeded.inc({ limit }) },
        mqttPort: listeners.ports.mqtt,
      },
      readiness: {
        brokerListening () { return !broker.closed },
        storage () {
          if (telemetryLog !== undefined && !telemetryLog.available()) return { state: 'failing', detail: 'JetStream does not acknowledge: readings are not accepted' }
          if (writer === undefined) return { state: 'spooling', detail: 'INFLUX_URL not set' }
          const state = writer.state()
          return state.connected ? { state: 'reachable' } : { state: 'spooling', detail: state.lastError ?? 'InfluxDB unreachable' }
        },
      },
    })
    closers.push({ name: 'http', close () { return http.close() } })
    httpPort = http.port

    cluster?.startHeartbeat({ ...listeners.ports, http: http.port }, function connections () { return listeners.connections() })
    log.info({ ports: { ...listeners.ports, http: http.port }, dataDir: config.DATA_DIR, influx: config.INFLUX_URL ?? null }, 'gateway started')
    let closing: Promise<void> | undefined
    return {
      ports: { ...listeners.ports, http: http.port },
      metrics,
      reloadRegistry () { return registry.reload() },
      close () {
        closing ??= closeInReverse(closers, log)
        return closing
      },
    }
  } catch (err) {
    await closeInReverse(closers, log)
    throw err
  }
}

/** Shutdown order, the reverse of start-up: HTTP and listeners first, then broker, writer, spool, registry. */
async function closeInReverse (closers: { name: string; close(): Promise<void> | void }[], log: Logger): Promise<void> {
  for (const closer of closers.reverse()) {
    try {
      await closer.close()
    } catch (err) {
      log.error({ err, stage: closer.name }, 'error while closing')
    }
  }
  log.info('gateway stopped')
}
