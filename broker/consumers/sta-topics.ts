// SensorThings MQTT topics (`v1.1/…`) against a ConsumerScope: which filters a client may subscribe
// to and which published topics it may receive. A topic naming a Datastream `<deviceId>:<field>` or a
// Thing `<deviceId>` is checked against the scope; any other `v1.1/` topic or filter (wildcards,
// `v1.1/Observations`) names nothing checkable, so only a scope that hides nothing may have it.
import type { Registry } from '../registry/registry.ts'
import { seesDevice, seesField, type ConsumerScope } from './scope.ts'

export const STA_TOPIC_PREFIX = 'v1.1/'

/** The device and field a SensorThings topic is about, as far as its first entity says. */
export interface StaTopicSubject { deviceId: string; field: string | undefined }

// `Datastreams('lamp-001:activePower')…` or `Things('lamp-001')…`; quotes optional, `''` is a quote.
const ENTITY = /^v1\.1\/(Datastreams|Things)\((?:'((?:[^']|'')*)'|([^()'/]*))\)(?:\/|$)/

export function staTopicSubject (topic: string): StaTopicSubject | undefined {
  const match = ENTITY.exec(topic)
  if (match === null) return undefined
  const id = (match[2] ?? match[3] ?? '').replace(/''/g, '\'')
  if (id === '' || /[+#]/.test(id)) return undefined
  if (match[1] === 'Things') return { deviceId: id, field: undefined }
  const colon = id.lastIndexOf(':')
  if (colon <= 0) return undefined
  return { deviceId: id.slice(0, colon), field: id.slice(colon + 1) }
}

/** Whether the scope filters nothing (every district, kind and field, exact locations). */
export function isUnrestricted (scope: ConsumerScope): boolean {
  return scope.districts === undefined && scope.kinds === undefined && scope.fields === undefined && scope.location === 'exact'
}

/**
 * May a client with this scope subscribe to this filter, or receive a message on this topic? Only
 * `v1.1/` topics; a wildcard in the entity id or any level before it names no single device.
 */
export function isStaTopicInScope (scope: ConsumerScope, registry: Pick<Registry, 'getDevice'>, topic: string): boolean {
  if (!topic.startsWith(STA_TOPIC_PREFIX)) return false
  const subject = staTopicSubject(topic)
  if (subject === undefined) return isUnrestricted(scope)
  const device = registry.getDevice(subject.deviceId)
  if (device === undefined || !seesDevice(scope, device)) return false
  return subject.field === undefined || seesField(scope, subject.field)
}
