// The SensorThings MQTT extension's topics (receive updates): a topic or filter in; what it
// subscribes to out. `v1.1/Datastreams('lamp-001:activePower')/Observations` (one Datastream) and
// `v1.1/Observations` (all the subscriber may see). No wildcards: anything else is not STA.
import { datastreamId, keyLiteral, parseDatastreamId } from './ids.ts'

export const STA_TOPIC_ROOT = 'v1.1/'
export const ALL_OBSERVATIONS_TOPIC = 'v1.1/Observations'

export type StaTopic = { kind: 'all' } | { kind: 'datastream'; deviceId: string; field: string }

// Only the quoted key: messages go out on exactly this spelling, and MQTT matches topics as text.
const DATASTREAM_TOPIC = /^v1\.1\/Datastreams\('([^']{1,200})'\)\/Observations$/

export function parseStaTopic (topic: string): StaTopic | undefined {
  if (topic === ALL_OBSERVATIONS_TOPIC) return { kind: 'all' }
  const match = DATASTREAM_TOPIC.exec(topic)
  if (match === null) return undefined
  const parsed = parseDatastreamId(match[1] ?? '')
  return parsed === undefined ? undefined : { kind: 'datastream', ...parsed }
}

/** The topic new Observations of a Datastream are published on (its key quoted, as over HTTP). */
export function datastreamTopic (deviceId: string, field: string): string {
  return `v1.1/Datastreams(${keyLiteral(datastreamId(deviceId, field))})/Observations`
}
