// One simulated MQTT client (device or crew): connects to mqtt://, mqtts:// or ws://, and after any
// loss reconnects by itself with exponential backoff and jitter (½–1 × the ceiling) (MQTT.js' fixed
// reconnectPeriod would let a whole fleet reconnect in lockstep after a gateway restart).
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'

export interface ConnectionOptions {
  /** One broker, or several comma-separated (the nodes of a cluster): after a lost connection the client tries the next. */
  readonly url: string
  /** With several brokers, which one to try first (taken modulo their number), so that a fleet spreads over them. */
  readonly firstServer?: number
  readonly clientId: string
  readonly username: string
  readonly password: string
  /** Topic filters (QoS 1) subscribed on every (re)connect. */
  readonly subscriptions?: readonly string[]
  /** First retry after up to this many ms; doubles per failed attempt. Default 500. */
  readonly backoffBaseMs?: number
  /** Longest wait between attempts. Default 30000. */
  readonly backoffMaxMs?: number
  /** Extra MQTT.js options (TLS `ca`, `rejectUnauthorized`). */
  readonly mqttOptions?: IClientOptions
  readonly onMessage?: (topic: string, payload: Buffer, isRetained: boolean) => void
  readonly onConnect?: (isReconnect: boolean) => void
  readonly onClose?: () => void
}

export interface Connection {
  readonly client: MqttClient
  isConnected(): boolean
  /** The last connection error, e.g. "Connection refused: Bad username or password". */
  lastError(): string | undefined
  /** Disconnects for good (no more reconnects). */
  end(isForced?: boolean): Promise<void>
}

function serverOf (url: string): { host: string, port: number, protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss' } {
  const parsed = new URL(url)
  const protocol = parsed.protocol.replace(':', '') as 'mqtt' | 'mqtts' | 'ws' | 'wss'
  return { host: parsed.hostname, port: Number(parsed.port), protocol }
}

export function openConnection (options: ConnectionOptions): Connection {
  const baseMs = options.backoffBaseMs ?? 500
  const maxMs = options.backoffMaxMs ?? 30_000
  let isEnding = false
  let hasConnected = false
  let attempt = 0
  let lastError: string | undefined
  let retryTimer: NodeJS.Timeout | undefined

  const urls = options.url.split(',').map(function trim (u) { return u.trim() }).filter(Boolean)
  const first = (options.firstServer ?? 0) % urls.length
  const ordered = [...urls.slice(first), ...urls.slice(0, first)]
  const client = mqtt.connect(ordered[0] as string, {
    // MQTT.js moves to the next of `servers` each time it opens a new connection.
    ...(ordered.length > 1 ? { servers: ordered.map(serverOf) } : {}),
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    connectTimeout: 10_000,
    reconnectPeriod: 0, // we reconnect ourselves, with backoff and jitter
    resubscribe: false,
    ...options.mqttOptions,
  })

  client.on('connect', function onConnect () {
    attempt = 0
    const isReconnect = hasConnected
    hasConnected = true
    for (const filter of options.subscriptions ?? []) {
      client.subscribe(filter, { qos: 1 }, function subscribed (err) { if (err !== null && err !== undefined) lastError = err.message })
    }
    options.onConnect?.(isReconnect)
  })
  client.on('message', function onMessage (topic, payload, packet) { options.onMessage?.(topic, payload, packet.retain) })
  client.on('error', function onError (err) { lastError = err.message })
  client.on('close', function onClose () {
    options.onClose?.()
    if (isEnding || retryTimer !== undefined) return
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16))
    attempt++
    retryTimer = setTimeout(function retry () {
      retryTimer = undefined
      if (!isEnding) client.reconnect()
    }, Math.round(ceiling / 2 + Math.random() * (ceiling / 2)))
  })

  return {
    client,
    isConnected () { return client.connected },
    lastError () { return lastError },
    async end (isForced = false) {
      isEnding = true
      clearTimeout(retryTimer)
      await client.endAsync(isForced)
    },
  }
}
