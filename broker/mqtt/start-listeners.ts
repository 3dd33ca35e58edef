// The MQTT listeners as the gateway runs them: an accept queue sized for MAX_CONNECTIONS (capped
// by the kernel, said once), the abuse limits at accept, every connection's outgoing buffer
// watched, accepts and CONNACK latency in the metrics, and the host's listen-queue overflows watched.
import type { Aedes } from 'aedes'
import { LISTEN_OVERFLOW_POLL_MS, type Config } from '../config.ts'
import type { Metrics } from '../http/metrics.ts'
import type { Logger } from '../log.ts'
import { observeConnackLatency } from './connack-latency.ts'
import type { ListenerOptions } from './listeners.ts'
import { startListeners, type Listeners } from './listeners.ts'
import { listenBacklog } from './listen-backlog.ts'
import { watchListenOverflows } from './listen-overflows.ts'

type ListenerConfig = Pick<Config, 'MQTT_HOST' | 'MQTT_PORT' | 'MQTTS_PORT' | 'TLS_CERT' | 'TLS_KEY' | 'WS_PORT' | 'MAX_PACKET_BYTES' | 'LISTEN_BACKLOG' | 'MAX_CONNECTIONS' | 'LIMIT_LOG_INTERVAL_SEC'>

export interface RunningListeners extends Listeners {
  /** Stops accepting, closes open connections and the overflow watch. */
  close(): Promise<void>
}

export async function startMqttListeners (
  broker: Aedes,
  config: ListenerConfig,
  guards: Pick<ListenerOptions, 'tlsCa' | 'tlsClientAuth' | 'connectTimeoutMs' | 'limiter' | 'onLimit' | 'onUnacceptableProtocol' | 'outgoing'>,
  metrics: Metrics,
  log: Logger,
): Promise<RunningListeners> {
  observeConnackLatency(broker, function connackLatency (seconds) { metrics.connackSeconds.observe(seconds) })
  const { backlog, wanted, somaxconn } = listenBacklog(config.LISTEN_BACKLOG ?? config.MAX_CONNECTIONS)
  if (backlog < wanted) {
    log.info({ module: 'listeners', reason: 'somaxconn', wanted, backlog, somaxconn },
      'listen backlog capped by the kernel (net.core.somaxconn): a reconnect storm of more devices than this may be dropped and retried')
  }
  const listeners = await startListeners(broker, {
    host: config.MQTT_HOST,
    mqttPort: config.MQTT_PORT,
    mqttsPort: config.MQTTS_PORT,
    tlsCert: config.TLS_CERT,
    tlsKey: config.TLS_KEY,
    wsPort: config.WS_PORT,
    maxPacketBytes: config.MAX_PACKET_BYTES,
    backlog,
    onAccept (transport) { metrics.connectionsAccepted.inc({ transport }) },
    ...guards,
    log,
  })
  const overflowWatch = watchListenOverflows({
    backlog,
    pollMs: LISTEN_OVERFLOW_POLL_MS,
    logIntervalMs: config.LIMIT_LOG_INTERVAL_SEC * 1000,
    onOverflows (count) { metrics.listenOverflows.inc(count) },
    log,
  })
  return {
    ports: listeners.ports,
    connections () { return listeners.connections() },
    async close () {
      overflowWatch?.close()
      await listeners.close()
    },
  }
}
