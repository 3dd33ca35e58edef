// Real MQTT.js devices and crews for e2e tests, with bounded waits.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'

export async function connectClient (url: string, options: IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 4, ...options })
}

export async function connectDevice (url: string, id: string, secret: string, options: IClientOptions = {}): Promise<MqttClient> {
  return connectClient(url, { clientId: id, username: id, password: secret, ...options })
}

/** Tries to connect and resolves with the CONNACK refusal (or 'connected' if it was let in). */
export async function connectOutcome (url: string, options: IClientOptions): Promise<string> {
  try {
    const client = await connectClient(url, options)
    await client.endAsync()
    return 'connected'
  } catch (err) {
    return (err as Error).message
  }
}

/** Collects messages on a topic filter; `next()` waits (bounded) for the next one. */
export async function collect (client: MqttClient, filter: string, qos: 0 | 1 = 1) {
  const messages: { topic: string; payload: Buffer; retain: boolean }[] = []
  const waiters: (() => void)[] = []
  client.on('message', function onMessage (topic, payload, packet) {
    messages.push({ topic, payload, retain: packet.retain })
    for (const wake of waiters.splice(0)) wake()
  })
  const granted = await client.subscribeAsync(filter, { qos })
  return {
    granted,
    messages,
    /** Resolves once at least `count` messages arrived; rejects after timeoutMs. */
    async waitFor (count: number, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      while (messages.length < count) {
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`waited ${timeoutMs} ms for ${count} message(s) on ${filter}, got ${messages.length}`)
        await new Promise<void>(function wait (resolve) {
          const timer = setTimeout(resolve, left)
          waiters.push(function woken () { clearTimeout(timer); resolve() })
        })
      }
      return messages
    },
    json (index: number): Record<string, unknown> {
      const message = messages[index]
      if (message === undefined) throw new Error(`no message ${index}`)
      return JSON.parse(message.payload.toString()) as Record<string, unknown>
    },
  }
}

/** Subscribes and returns the SUBACK return code per filter (128 = refused), refusals included. */
export async function subscribeCodes (client: MqttClient, filters: string[], qos: 0 | 1 = 1): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos })
    return granted.map((g) => g.qos)
  } catch (err) {
    const packet = (err as { packet?: { granted?: (number | { qos: number })[] } }).packet
    if (packet?.granted === undefined) throw err
    return packet.granted.map((g) => (typeof g === 'number' ? g : g.qos))
  }
}

export interface DevicePublisher {
  /** Publishes one reading (or a batch) as device `id` at QoS 1, connecting it on first use. */
  readonly publish: (id: string, reading: Record<string, unknown> | Record<string, unknown>[]) => Promise<void>
  /** Disconnects every device it connected. */
  readonly close: () => Promise<void>
}

/** Devices as real MQTT.js clients, one connection per device id, kept open between publishes. */
export function createDevicePublisher (mqttUrl: () => string, secrets: Readonly<Record<string, string>>): DevicePublisher {
  const clients = new Map<string, MqttClient>()
  return {
    async publish (id, reading) {
      let client = clients.get(id)
      if (client === undefined) {
        client = await connectDevice(mqttUrl(), id, secrets[id] ?? '')
        clients.set(id, client)
      }
      await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
    },
    async close () {
      await Promise.all([...clients.values()].map((client) => client.endAsync(true)))
      clients.clear()
    },
  }
}
