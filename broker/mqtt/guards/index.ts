// Config → the abuse-limit options of the listeners and the hooks, sharing one log throttle so an
// offender is logged once per LIMIT_LOG_INTERVAL_SEC whichever stage meets it. Wired in main.ts.
import { FD_RESERVE, type Config } from '../../config.ts'
import type { Metrics } from '../../http/metrics.ts'
import type { Notice } from '../../ingest/notices.ts'
import type { Spool } from '../../spool/spool.ts'
import type { Logger } from '../../log.ts'
import type { DeviceIdentity } from '../authenticate.ts'
import type { HookOptions } from '../hooks/index.ts'
import { createLogThrottle } from '../../log-throttle.ts'
import { createConnectionLimiter } from './connection-limit.ts'
import { connectionCap, readOpenFileLimit } from '../open-file-limit.ts'
import type { ListenerOptions } from '../listeners.ts'
import { createRateLimitRecorder } from './publish-rate-record.ts'

type LimitConfig = Pick<Config,
  'TLS_CA' | 'TLS_CLIENT_AUTH' | 'MAX_CONNECTIONS' | 'MAX_CONNECTIONS_PER_IP' | 'MQTT_CONNECT_TIMEOUT_MS' |
  'MQTT_KEEPALIVE_MAX_SEC' | 'AUTH_FAILURES_BEFORE_BACKOFF' | 'AUTH_FAILURES_BEFORE_LOCKOUT' | 'AUTH_FAILURE_WINDOW_SEC' |
  'AUTH_BACKOFF_MAX_MS' | 'AUTH_LOCKOUT_SEC' | 'PUBLISH_RATE_PER_SEC' | 'PUBLISH_BURST' | 'PUBLISH_DELAY_MAX_SEC' | 'MAX_TOPIC_BYTES' |
  'MAX_TOPIC_LEVELS' | 'MAX_SUBSCRIPTIONS_PER_CLIENT' | 'LIMIT_LOG_INTERVAL_SEC'>

const LIMIT_MESSAGES = {
  connections: 'connection closed: limit reached',
  connections_per_ip: 'connection closed: limit reached',
  packet_size: 'connection closed: packet too large',
  tls_handshake: 'TLS handshake failed',
} as const

export function createAbuseLimits (config: LimitConfig, metrics: Metrics, rootLog: Logger) {
  const log = rootLog.child({ module: 'limits' })
  const throttle = createLogThrottle(config.LIMIT_LOG_INTERVAL_SEC * 1000)
  const openFileLimit = readOpenFileLimit()
  const maxConnections = connectionCap(config.MAX_CONNECTIONS, openFileLimit, FD_RESERVE)
  if (maxConnections < config.MAX_CONNECTIONS) {
    log.warn({ reason: 'open_file_limit', maxConnections: config.MAX_CONNECTIONS, openFileLimit, reserve: FD_RESERVE, cap: maxConnections },
      'connections capped by the open-file limit: raise it (ulimit -n, systemd LimitNOFILE) above MAX_CONNECTIONS + reserve to hold MAX_CONNECTIONS')
  }
  const limiter = createConnectionLimiter({ maxTotal: maxConnections, maxPerIp: config.MAX_CONNECTIONS_PER_IP })

  const listeners: Pick<ListenerOptions, 'tlsCa' | 'tlsClientAuth' | 'connectTimeoutMs' | 'limiter' | 'onLimit' | 'onUnacceptableProtocol'> = {
    tlsCa: config.TLS_CA,
    tlsClientAuth: config.TLS_CLIENT_AUTH,
    connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
    limiter,
    onLimit (limit, ip, err) {
      metrics.limitsExceeded.inc({ limit })
      const suppressed = throttle.take(`${limit}:${ip}`)
      if (suppressed === undefined) return
      const max = limit === 'connections' ? maxConnections : limit === 'connections_per_ip' ? config.MAX_CONNECTIONS_PER_IP : undefined
      const error = err === undefined ? undefined : { message: err.message, code: err.code }
      log.warn({ ip, reason: limit, max, err: error, suppressedSinceLast: suppressed }, LIMIT_MESSAGES[limit])
    },
    onUnacceptableProtocol (ip) {
      metrics.protocolErrors.inc({ reason: 'unacceptable_protocol' })
      const suppressed = throttle.take(`unacceptable_protocol:${ip}`)
      if (suppressed !== undefined) log.warn({ ip, reason: 'unacceptable_protocol', suppressedSinceLast: suppressed }, 'CONNECT with a protocol level other than MQTT 3.1.1 or 3.1: answered with CONNACK 0x01 and closed')
    },
  }

  function hooks (spool: Pick<Spool, 'append'>, publishNotice: (device: DeviceIdentity, notice: Notice) => void): Pick<HookOptions, 'limits' | 'throttle' | 'onRateLimited'> {
    return {
      throttle,
      limits: {
        keepaliveMaxSec: config.MQTT_KEEPALIVE_MAX_SEC,
        login: {
          backoffAfter: config.AUTH_FAILURES_BEFORE_BACKOFF,
          lockoutAfter: config.AUTH_FAILURES_BEFORE_LOCKOUT,
          windowMs: config.AUTH_FAILURE_WINDOW_SEC * 1000,
          lockoutMs: config.AUTH_LOCKOUT_SEC * 1000,
          backoffMaxMs: config.AUTH_BACKOFF_MAX_MS,
        },
        publish: {
          maxTopicBytes: config.MAX_TOPIC_BYTES,
          maxTopicLevels: config.MAX_TOPIC_LEVELS,
          ratePerSec: config.PUBLISH_RATE_PER_SEC,
          burst: config.PUBLISH_BURST,
          maxDelayMs: config.PUBLISH_DELAY_MAX_SEC * 1000,
        },
        subscribe: {
          maxTopicBytes: config.MAX_TOPIC_BYTES,
          maxTopicLevels: config.MAX_TOPIC_LEVELS,
          maxSubscriptions: config.MAX_SUBSCRIPTIONS_PER_CLIENT,
        },
      },
      onRateLimited: createRateLimitRecorder({
        spool,
        publishNotice,
        ratePerSec: config.PUBLISH_RATE_PER_SEC,
        burst: config.PUBLISH_BURST,
        maxDelaySec: config.PUBLISH_DELAY_MAX_SEC,
        logIntervalSec: config.LIMIT_LOG_INTERVAL_SEC,
      }),
    }
  }

  return { listeners, hooks, throttle, connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS }
}
