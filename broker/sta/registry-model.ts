// The registry as SensorThings entities, seen through one ConsumerScope: Things, Locations,
// HistoricalLocations, Datastreams, Sensors, ObservedProperties and FeaturesOfInterest, built on
// demand per request. What the scope hides does not exist here (so it is 404 and absent from lists,
// counts and expands), and every coordinate is the one `locationFor` gives the scope.
import { getKind, kindNames, type DeviceKind } from '../../devices/index.ts'
import { locationFor, seesDevice, seesField, seesKind, type ConsumerScope } from '../consumers/scope.ts'
import type { Registry } from '../registry/registry.ts'
import { fieldsOfKind } from './field-metadata.ts'
import { datastreamId, observedPropertyId, parseDatastreamId, parseObservationId, type EntitySetName } from './ids.ts'

/** An entity's own properties (no @iot annotations, no navigation links). */
export interface Entity {
  set: EntitySetName
  id: string
  properties: Record<string, unknown>
}

export interface VisibleDevice {
  id: string
  kind: DeviceKind
  district: string
  group: string | undefined
  /** As the scope may see it; undefined = no Location, no FeatureOfInterest. */
  location: { lat: number; lon: number } | undefined
  createdAt: string
  /** Stored fields the scope sees, in the kind's order. */
  fields: readonly string[]
}

export type RegistrySet = Exclude<EntitySetName, 'Observations'>

export interface RegistryModel {
  readonly scope: ConsumerScope | undefined
  device(id: string): VisibleDevice | undefined
  devices(): VisibleDevice[]
  /** Every entity of a set, by id. */
  list(set: RegistrySet): Entity[]
  get(set: RegistrySet, id: string): Entity | undefined
  /** Registry entities reached by a navigation property (not Observations). */
  related(entity: Entity, nav: string): Entity[]
}

const SENSOR_ENCODING = 'text/plain'

export function createRegistryModel (registry: Pick<Registry, 'getDevice' | 'listDevices'>, scope: ConsumerScope | undefined): RegistryModel {
  const visible = new Map<string, VisibleDevice | undefined>()

  function visibleDevice (id: string): VisibleDevice | undefined {
    if (visible.has(id)) return visible.get(id)
    const record = registry.getDevice(id)
    const kind = record === undefined ? undefined : getKind(record.kind)
    let device: VisibleDevice | undefined
    if (record !== undefined && kind !== undefined && (scope === undefined || seesDevice(scope, record))) {
      device = {
        id,
        kind,
        district: record.district,
        group: record.group,
        location: locationFor(scope, record.lat, record.lon),
        createdAt: record.createdAt,
        fields: kind.fieldNames.filter(function seen (f) { return scope === undefined || seesField(scope, f) }),
      }
    }
    visible.set(id, device)
    return device
  }

  function devices (): VisibleDevice[] {
    const all: VisibleDevice[] = []
    for (const [id] of registry.listDevices()) {
      const device = visibleDevice(id)
      if (device !== undefined) all.push(device)
    }
    return all.sort(function byId (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0 })
  }

  function visibleKinds (): DeviceKind[] {
    return kindNames.filter(function seen (k) { return scope === undefined || seesKind(scope, k) }).map(function kindOf (k) { return getKind(k) as DeviceKind })
  }

  function fieldsSeen (kind: DeviceKind): string[] {
    return kind.fieldNames.filter(function seen (f) { return scope === undefined || seesField(scope, f) })
  }

  function thing (d: VisibleDevice): Entity {
    return {
      set: 'Things',
      id: d.id,
      properties: {
        name: d.id,
        description: `${d.kind.name} ${d.id} in district ${d.district}`,
        properties: { kind: d.kind.name, district: d.district, ...(d.group === undefined ? {} : { group: d.group }) },
      },
    }
  }
  function point (d: VisibleDevice): { type: 'Point'; coordinates: [number, number] } | undefined {
    return d.location === undefined ? undefined : { type: 'Point', coordinates: [d.location.lon, d.location.lat] }
  }
  function location (d: VisibleDevice): Entity | undefined {
    const geometry = point(d)
    if (geometry === undefined) return undefined
    return { set: 'Locations', id: d.id, properties: { name: `Location of ${d.id}`, description: `Where ${d.id} is installed`, encodingType: 'application/geo+json', location: geometry } }
  }
  function historicalLocation (d: VisibleDevice): Entity | undefined {
    if (d.location === undefined) return undefined
    return { set: 'HistoricalLocations', id: d.id, properties: { time: new Date(Date.parse(d.createdAt)).toISOString() } }
  }
  function featureOfInterest (d: VisibleDevice): Entity | undefined {
    const geometry = point(d)
    if (geometry === undefined) return undefined
    return { set: 'FeaturesOfInterest', id: d.id, properties: { name: `Site of ${d.id}`, description: `The place ${d.id} observes`, encodingType: 'application/geo+json', feature: geometry } }
  }
  function sensor (kind: DeviceKind): Entity {
    return {
      set: 'Sensors',
      id: kind.name,
      properties: { name: kind.name, description: `A ${kind.name} device of the city's street sensors`, encodingType: SENSOR_ENCODING, metadata: `Reading schema: citygw schema ${kind.name}` },
    }
  }
  function observedProperty (kind: DeviceKind, field: string): Entity | undefined {
    const meta = fieldsOfKind(kind).get(field)
    if (meta === undefined) return undefined
    return {
      set: 'ObservedProperties',
      id: observedPropertyId(kind.name, field),
      properties: {
        name: meta.label,
        definition: `urn:city-sensor-gateway:field:${kind.name}:${field}`,
        description: meta.description,
        properties: { kind: kind.name, field, ...(meta.unitOfMeasurement.symbol === null ? {} : { unit: meta.unitOfMeasurement.symbol }) },
      },
    }
  }
  function datastream (d: VisibleDevice, field: string): Entity | undefined {
    const meta = fieldsOfKind(d.kind).get(field)
    if (meta === undefined || !d.fields.includes(field)) return undefined
    return {
      set: 'Datastreams',
      id: datastreamId(d.id, field),
      properties: {
        name: `${meta.label} of ${d.id}`,
        description: `${meta.description} (${field}) reported by ${d.id}`,
        observationType: meta.observationType,
        unitOfMeasurement: meta.unitOfMeasurement,
        properties: { field },
      },
    }
  }
  function datastreamsOf (d: VisibleDevice): Entity[] {
    return d.fields.map(function build (f) { return datastream(d, f) }).filter(isEntity)
  }

  function get (set: RegistrySet, id: string): Entity | undefined {
    switch (set) {
      case 'Things': { const d = visibleDevice(id); return d === undefined ? undefined : thing(d) }
      case 'Locations': { const d = visibleDevice(id); return d === undefined ? undefined : location(d) }
      case 'HistoricalLocations': { const d = visibleDevice(id); return d === undefined ? undefined : historicalLocation(d) }
      case 'FeaturesOfInterest': { const d = visibleDevice(id); return d === undefined ? undefined : featureOfInterest(d) }
      case 'Sensors': return visibleKinds().filter(function named (k) { return k.name === id }).map(sensor)[0]
      case 'ObservedProperties': {
        const [kindName, field] = id.split(':')
        const kind = visibleKinds().find(function named (k) { return k.name === kindName })
        return kind === undefined || field === undefined || !fieldsSeen(kind).includes(field) ? undefined : observedProperty(kind, field)
      }
      case 'Datastreams': {
        const parsed = parseDatastreamId(id)
        const d = parsed === undefined ? undefined : visibleDevice(parsed.deviceId)
        return d === undefined || parsed === undefined ? undefined : datastream(d, parsed.field)
      }
    }
  }

  function list (set: RegistrySet): Entity[] {
    switch (set) {
      case 'Things': return devices().map(thing)
      case 'Locations': return devices().map(location).filter(isEntity)
      case 'HistoricalLocations': return devices().map(historicalLocation).filter(isEntity)
      case 'FeaturesOfInterest': return devices().map(featureOfInterest).filter(isEntity)
      case 'Sensors': return visibleKinds().map(sensor)
      case 'ObservedProperties': return visibleKinds().flatMap(function ofKind (k) { return fieldsSeen(k).map(function build (f) { return observedProperty(k, f) }) }).filter(isEntity)
      case 'Datastreams': return devices().flatMap(datastreamsOf)
    }
  }

  function related (entity: Entity, nav: string): Entity[] {
    const one = function maybe (e: Entity | undefined): Entity[] { return e === undefined ? [] : [e] }
    switch (entity.set) {
      case 'Things':
      case 'Locations':
      case 'HistoricalLocations': {
        const d = visibleDevice(entity.id)
        if (d === undefined) return []
        if (nav === 'Locations') return one(location(d))
        if (nav === 'HistoricalLocations') return one(historicalLocation(d))
        if (nav === 'Things' || nav === 'Thing') return [thing(d)]
        if (nav === 'Datastreams') return datastreamsOf(d)
        return []
      }
      case 'Datastreams': {
        const parsed = parseDatastreamId(entity.id)
        const d = parsed === undefined ? undefined : visibleDevice(parsed.deviceId)
        if (d === undefined || parsed === undefined) return []
        if (nav === 'Thing') return [thing(d)]
        if (nav === 'Sensor') return [sensor(d.kind)]
        if (nav === 'ObservedProperty') return one(observedProperty(d.kind, parsed.field))
        return []
      }
      case 'Sensors':
        return nav === 'Datastreams' ? devices().filter(function ofKind (d) { return d.kind.name === entity.id }).flatMap(datastreamsOf) : []
      case 'ObservedProperties': {
        if (nav !== 'Datastreams') return []
        const [kindName, field] = entity.id.split(':')
        return devices().filter(function ofKind (d) { return d.kind.name === kindName }).map(function build (d) { return datastream(d, field ?? '') }).filter(isEntity)
      }
      case 'Observations': {
        const parsed = parseObservationId(entity.id)
        const d = parsed === undefined ? undefined : visibleDevice(parsed.deviceId)
        if (d === undefined || parsed === undefined) return []
        if (nav === 'Datastream') return one(datastream(d, parsed.field))
        if (nav === 'FeatureOfInterest') return one(featureOfInterest(d))
        return []
      }
      case 'FeaturesOfInterest':
        return []
    }
  }

  return { scope, device: visibleDevice, devices, list, get, related }
}

function isEntity (e: Entity | undefined): e is Entity {
  return e !== undefined
}
