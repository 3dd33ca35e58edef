// The SensorThings id scheme, derived from registry ids, kind names and field names (none of which
// can hold ':'): stable across restarts and gateways, so links and bookmarks keep working.
//   Thing, Location, HistoricalLocation, FeatureOfInterest: the device id        lamp-001
//   Sensor: the kind name                                                        lamp-post
//   ObservedProperty: kind:field                                                 lamp-post:activePower
//   Datastream: device:field                                                     lamp-001:activePower
//   Observation: device:field:epoch-ms of phenomenonTime                         lamp-001:activePower:1764558000000

export const ENTITY_SETS = ['Things', 'Locations', 'HistoricalLocations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations', 'FeaturesOfInterest'] as const
export type EntitySetName = typeof ENTITY_SETS[number]

export function isEntitySet (name: string): name is EntitySetName {
  return (ENTITY_SETS as readonly string[]).includes(name)
}

/** Navigation properties of each entity type: target set and whether it is a collection. */
export const NAVIGATION: Readonly<Record<EntitySetName, Readonly<Record<string, { target: EntitySetName; many: boolean }>>>> = {
  Things: { Locations: { target: 'Locations', many: true }, HistoricalLocations: { target: 'HistoricalLocations', many: true }, Datastreams: { target: 'Datastreams', many: true } },
  Locations: { Things: { target: 'Things', many: true }, HistoricalLocations: { target: 'HistoricalLocations', many: true } },
  HistoricalLocations: { Thing: { target: 'Things', many: false }, Locations: { target: 'Locations', many: true } },
  Datastreams: { Thing: { target: 'Things', many: false }, Sensor: { target: 'Sensors', many: false }, ObservedProperty: { target: 'ObservedProperties', many: false }, Observations: { target: 'Observations', many: true } },
  Sensors: { Datastreams: { target: 'Datastreams', many: true } },
  ObservedProperties: { Datastreams: { target: 'Datastreams', many: true } },
  Observations: { Datastream: { target: 'Datastreams', many: false }, FeatureOfInterest: { target: 'FeaturesOfInterest', many: false } },
  FeaturesOfInterest: { Observations: { target: 'Observations', many: true } },
}

export function datastreamId (deviceId: string, field: string): string {
  return `${deviceId}:${field}`
}

export function observedPropertyId (kind: string, field: string): string {
  return `${kind}:${field}`
}

export function observationId (deviceId: string, field: string, tsMs: number): string {
  return `${deviceId}:${field}:${tsMs}`
}

/** `device:field` → its parts; undefined when the id has another shape. */
export function parseDatastreamId (id: string): { deviceId: string; field: string } | undefined {
  const match = /^([A-Za-z0-9._-]{1,64}):([A-Za-z][A-Za-z0-9]*)$/.exec(id)
  return match === null ? undefined : { deviceId: match[1] as string, field: match[2] as string }
}

/** `device:field:ms` → its parts; undefined when the id has another shape. */
export function parseObservationId (id: string): { deviceId: string; field: string; tsMs: number } | undefined {
  const match = /^([A-Za-z0-9._-]{1,64}):([A-Za-z][A-Za-z0-9]*):(-?\d{1,16})$/.exec(id)
  if (match === null) return undefined
  const tsMs = Number(match[3])
  return Number.isSafeInteger(tsMs) ? { deviceId: match[1] as string, field: match[2] as string, tsMs } : undefined
}

/** `'lamp-001'` as it appears in a URL: OData quotes string keys and doubles quotes inside. */
export function keyLiteral (id: string): string {
  return `'${id.replace(/'/g, '\'\'')}'`
}

/** The properties each entity type has (SensorThings 1.1 data model); others are a 400 in paths, $select and $filter. */
export const PROPERTIES: Readonly<Record<EntitySetName, readonly string[]>> = {
  Things: ['name', 'description', 'properties'],
  Locations: ['name', 'description', 'encodingType', 'location', 'properties'],
  HistoricalLocations: ['time'],
  Datastreams: ['name', 'description', 'unitOfMeasurement', 'observationType', 'observedArea', 'phenomenonTime', 'resultTime', 'properties'],
  Sensors: ['name', 'description', 'encodingType', 'metadata', 'properties'],
  ObservedProperties: ['name', 'definition', 'description', 'properties'],
  Observations: ['phenomenonTime', 'resultTime', 'result', 'resultQuality', 'validTime', 'parameters'],
  FeaturesOfInterest: ['name', 'description', 'encodingType', 'feature', 'properties'],
}
