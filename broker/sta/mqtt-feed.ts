// Accepted readings in; SensorThings Observations out on `v1.1/Datastreams('<id>')/Observations`
// and `v1.1/Observations`, as JSON shaped as over HTTP. Only while someone subscribes: live
// subscriptions are counted and a reading costs one comparison when there are none. Every message
// carries what it is about, so each subscriber gets only what its scope sees. In a cluster, readings
// accepted by other nodes come in through relay() and go out the same way.
import type { Aedes, Client, PublishPacket, Subscription } from 'aedes'
import type { ConsumerScope } from '../consumers/scope.ts'
import { seesDevice, seesField } from '../consumers/scope.ts'
import type { ValidReading } from '../ingest/validate.ts'
import type { Logger } from '../log.ts'
import type { DeviceIdentity } from '../mqtt/authenticate.ts'
import type { Registry } from '../registry/registry.ts'
import { keyLiteral, observationId } from './ids.ts'
import { ALL_OBSERVATIONS_TOPIC, datastreamTopic, parseStaTopic } from './mqtt-topics.ts'
import { createRegistryModel } from './registry-model.ts'

export interface StaFeedOptions {
  broker: Aedes
  registry: Pick<Registry, 'getDevice' | 'listDevices'>
  /** Absolute URL of the HTTP service root (`…/sta/v1.1`), for @iot.selfLink and navigation links. */
  baseUrl(): string
  log: Logger
}

/** What a device's Observations are about, as they travel between nodes. */
export interface ObservedDevice { readonly id: string; readonly district: string; readonly kind: string }
/** One accepted reading's Observations: phenomenon time, result time (epoch ms) and the results. */
export interface ObservedReading { readonly tsMs: number; readonly resultMs: number; readonly values: Readonly<Record<string, number | boolean>> }

/** A reading without its own ts was stamped on receipt: then both times are the same. */
export function observedReadings (readings: readonly ValidReading[], receivedMs: number): ObservedReading[] {
  return readings.map(function observed (r) { return { tsMs: r.tsMs, resultMs: r.tsGiven ? receivedMs : r.tsMs, values: r.values } })
}

export interface StaFeed {
  /** Whether a client of this scope may subscribe to this filter (false: not an STA topic, or hidden). */
  maySubscribe(scope: ConsumerScope | undefined, filter: string): boolean
  /** Whether a message on an STA topic may go to a client of this scope. */
  mayDeliver(scope: ConsumerScope | undefined, packet: PublishPacket): boolean
  /** The ingest stage accepted these readings of a device. */
  onReadings(device: DeviceIdentity, readings: readonly ValidReading[]): void
  /** Readings another cluster node accepted: published to this node's subscribers alike. */
  relay(device: ObservedDevice, readings: readonly ObservedReading[]): void
  /** Called with true when the first STA subscription comes, false when the last one goes. */
  onInterestChange(listener: (isInterested: boolean) => void): void
  /** Live STA subscriptions (for tests and metrics). */
  subscriptions(): number
  close(): void
}

interface About { deviceId: string; district: string; kind: string; field: string }

export function createStaFeed (options: StaFeedOptions): StaFeed {
  const { broker } = options
  const log = options.log.child({ module: 'sta-mqtt' })
  /** Live subscriptions per STA topic, and each client's. */
  const counts = new Map<string, number>()
  const byClient = new Map<Client, Set<string>>()
  let total = 0
  const interestListeners: ((isInterested: boolean) => void)[] = []
  function announce (isInterested: boolean): void {
    for (const listener of interestListeners) listener(isInterested)
  }
  /** What each published payload is about; payload buffers are shared by every delivery of a message. */
  const about = new WeakMap<object, About>()

  function add (client: Client, topic: string): void {
    let held = byClient.get(client)
    if (held === undefined) {
      held = new Set()
      byClient.set(client, held)
    }
    if (held.has(topic)) return
    held.add(topic)
    counts.set(topic, (counts.get(topic) ?? 0) + 1)
    total++
    if (total === 1) announce(true)
  }
  function remove (client: Client, topic: string): void {
    const held = byClient.get(client)
    if (held?.delete(topic) !== true) return
    if (held.size === 0) byClient.delete(client)
    const left = (counts.get(topic) ?? 1) - 1
    if (left === 0) counts.delete(topic)
    else counts.set(topic, left)
    total--
    if (total === 0) announce(false)
  }

  function onSubscribe (subscriptions: Subscription[], client: Client): void {
    // Refused filters come with qos 128 (SUBACK failure).
    for (const sub of subscriptions) if ((sub.qos as number) !== 128 && parseStaTopic(sub.topic) !== undefined) add(client, sub.topic)
  }
  function onUnsubscribe (topics: string[], client: Client): void {
    for (const topic of topics) remove(client, topic)
  }
  function onClientGone (client: Client): void {
    for (const topic of [...byClient.get(client) ?? []]) remove(client, topic)
  }
  broker.on('subscribe', onSubscribe)
  broker.on('unsubscribe', onUnsubscribe)
  broker.on('clientDisconnect', onClientGone)

  function publish (topic: string, payload: Buffer, subject: About): void {
    about.set(payload, subject)
    broker.publish({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }, function published (err) {
      if (err !== undefined && err !== null) log.warn({ err, topic }, 'observation not published')
    })
  }

  function observationJson (deviceId: string, field: string, tsMs: number, result: number | boolean, receivedMs: number): Buffer {
    const id = observationId(deviceId, field, tsMs)
    const self = `${options.baseUrl()}/Observations(${keyLiteral(id)})`
    return Buffer.from(JSON.stringify({
      '@iot.id': id,
      '@iot.selfLink': self,
      phenomenonTime: new Date(tsMs).toISOString(),
      resultTime: new Date(receivedMs).toISOString(),
      result,
      'Datastream@iot.navigationLink': `${self}/Datastream`,
      'FeatureOfInterest@iot.navigationLink': `${self}/FeatureOfInterest`,
    }))
  }

  function publishObservations (device: ObservedDevice, readings: readonly ObservedReading[]): void {
    const all = counts.has(ALL_OBSERVATIONS_TOPIC)
    for (const reading of readings) {
      for (const [field, result] of Object.entries(reading.values)) {
        const topic = datastreamTopic(device.id, field)
        const one = counts.has(topic)
        if (!one && !all) continue
        const subject: About = { deviceId: device.id, district: device.district, kind: device.kind, field }
        const payload = observationJson(device.id, field, reading.tsMs, result, reading.resultMs)
        if (one) publish(topic, payload, subject)
        if (all) publish(ALL_OBSERVATIONS_TOPIC, Buffer.from(payload), subject)
      }
    }
  }

  return {
    maySubscribe (scope, filter) {
      const topic = parseStaTopic(filter)
      if (topic === undefined) return false
      if (topic.kind === 'all') return true
      return createRegistryModel(options.registry, scope).get('Datastreams', `${topic.deviceId}:${topic.field}`) !== undefined
    },
    mayDeliver (scope, packet) {
      const subject = typeof packet.payload === 'string' ? undefined : about.get(packet.payload)
      if (subject === undefined) return false
      return scope === undefined || (seesDevice(scope, subject) && seesField(scope, subject.field))
    },
    onReadings (device, readings) {
      if (total === 0) return
      publishObservations({ id: device.id, district: device.district, kind: device.kind.name }, observedReadings(readings, Date.now()))
    },
    relay (device, readings) {
      if (total === 0) return
      publishObservations(device, readings)
    },
    onInterestChange (listener) { interestListeners.push(listener) },
    subscriptions () { return total },
    close () {
      broker.removeListener('subscribe', onSubscribe)
      broker.removeListener('unsubscribe', onUnsubscribe)
      broker.removeListener('clientDisconnect', onClientGone)
      counts.clear()
      byClient.clear()
      total = 0
      interestListeners.length = 0
    },
  }
}
