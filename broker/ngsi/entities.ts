// Enters: lines of the spool (telemetry and alarm changes) and the registry's device locations.
// Leaves: one entity update per line worth exporting: id `urn:ngsi-ld:<Type>:<deviceId>` with the
// kind's Smart Data Models attributes, or the alarm's Alert; other lines (rejected input) give none.
import { getKind, isKindName } from '../../devices/index.ts'
import { ngsiModels, type NgsiAttributes } from '../../devices/ngsi-models.ts'
import { alertAttributesOf, alertIdOf } from './alert-entity.ts'
import { parseLine } from './line-parse.ts'

export interface EntityUpdate {
  readonly id: string
  readonly type: string
  readonly attributes: NgsiAttributes
}

export interface DeviceLocation { readonly lat: number, readonly lon: number }
/** The registry's location of a device, if it has one. */
export type LocationOf = (deviceId: string) => DeviceLocation | undefined

/** Envelope fields that describe the transmission, not the street: not exported. */
const NOT_EXPORTED = new Set(['seq', 'rssi'])

const kindByMeasurement = new Map<string, string>()
for (const name of Object.keys(ngsiModels)) {
  const kind = getKind(name)
  if (kind !== undefined) kindByMeasurement.set(kind.measurement, name)
}

export function deviceEntityId (kindName: string, deviceId: string): string | undefined {
  if (!isKindName(kindName)) return undefined
  return `urn:ngsi-ld:${ngsiModels[kindName].entityType}:${deviceId}`
}

export function entityUpdateOf (line: string, locationOf: LocationOf): EntityUpdate | undefined {
  const parsed = parseLine(line)
  const deviceId = parsed?.tags.device_id
  if (parsed === undefined || deviceId === undefined) return undefined
  if (parsed.measurement === 'alarms') {
    const sourceId = deviceEntityId(parsed.tags.kind ?? '', deviceId)
    if (sourceId === undefined) return undefined
    const alert = alertAttributesOf(parsed, sourceId)
    if (alert === undefined) return undefined
    return { id: alertIdOf(alert.alarmId), type: 'Alert', attributes: withLocation(alert.attributes, locationOf(deviceId)) }
  }
  const kindName = kindByMeasurement.get(parsed.measurement)
  if (kindName === undefined || !isKindName(kindName)) return undefined
  const model = ngsiModels[kindName]
  const values: Record<string, number | boolean> = {}
  for (const [key, value] of Object.entries(parsed.fields)) {
    if (typeof value !== 'string' && !NOT_EXPORTED.has(key)) values[key] = value
  }
  const attributes = model.attributesOf(values, new Date(parsed.tsMs).toISOString())
  return { id: `urn:ngsi-ld:${model.entityType}:${deviceId}`, type: model.entityType, attributes: withLocation(attributes, locationOf(deviceId)) }
}

function withLocation (attributes: NgsiAttributes, location: DeviceLocation | undefined): NgsiAttributes {
  if (location === undefined) return attributes
  // GeoJSON order: longitude first.
  return { ...attributes, location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [location.lon, location.lat] } } }
}
