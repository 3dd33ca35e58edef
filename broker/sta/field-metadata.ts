// A kind's stored field in; what SensorThings says about it out: label, description, the
// unitOfMeasurement (name, symbol, UCUM definition) and the observationType by InfluxDB type.
import type { DeviceKind, FieldType } from '../../devices/index.ts'

const OBSERVATION_TYPES: Readonly<Record<FieldType, string>> = {
  float: 'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement',
  integer: 'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation',
  boolean: 'http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_TruthObservation',
}

const UCUM = 'http://unitsofmeasure.org/ucum.html'
/** Unit symbols of the kinds' schemas → a readable name and their UCUM code. */
const UNITS: Readonly<Record<string, { name: string; ucum: string }>> = {
  '%': { name: 'percent', ucum: '%' },
  '%LEL': { name: 'percent of the lower explosive limit', ucum: '%{LEL}' },
  '%vol': { name: 'percent by volume', ucum: '%{vol}' },
  1: { name: 'dimensionless', ucum: '1' },
  A: { name: 'ampere', ucum: 'A' },
  NTU: { name: 'nephelometric turbidity unit', ucum: '[NTU]' },
  V: { name: 'volt', ucum: 'V' },
  W: { name: 'watt', ucum: 'W' },
  dBm: { name: 'decibel-milliwatt', ucum: 'dB[mW]' },
  h: { name: 'hour', ucum: 'h' },
  kPa: { name: 'kilopascal', ucum: 'kPa' },
  kWh: { name: 'kilowatt hour', ucum: 'kW.h' },
  lx: { name: 'lux', ucum: 'lx' },
  m: { name: 'metre', ucum: 'm' },
  'mg/L': { name: 'milligram per litre', ucum: 'mg/L' },
  'm³': { name: 'cubic metre', ucum: 'm3' },
  'm³/h': { name: 'cubic metre per hour', ucum: 'm3/h' },
  pH: { name: 'pH', ucum: '[pH]' },
  ppm: { name: 'parts per million', ucum: '[ppm]' },
  '°': { name: 'degree', ucum: 'deg' },
  '°C': { name: 'degree Celsius', ucum: 'Cel' },
}

export interface FieldMetadata {
  label: string
  description: string
  type: FieldType
  observationType: string
  unitOfMeasurement: { name: string | null; symbol: string | null; definition: string | null }
}

const cache = new WeakMap<DeviceKind, ReadonlyMap<string, FieldMetadata>>()

/** The kind's stored fields (kind fields, then seq and rssi) with their metadata, made once per kind. */
export function fieldsOfKind (kind: DeviceKind): ReadonlyMap<string, FieldMetadata> {
  const known = cache.get(kind)
  if (known !== undefined) return known
  const shape = kind.schema.shape as Record<string, { meta?: () => Record<string, unknown> | undefined }>
  const fields = new Map<string, FieldMetadata>()
  for (const name of kind.fieldNames) {
    const meta = shape[name]?.meta?.() ?? {}
    const type = kind.fieldTypes[name] ?? 'float'
    const unit = typeof meta.unit === 'string' && meta.unit !== '' ? meta.unit : undefined
    const label = typeof meta.label === 'string' ? meta.label : spelledOut(name)
    const known = unit === undefined ? undefined : UNITS[unit]
    fields.set(name, {
      label,
      description: typeof meta.description === 'string' ? meta.description : label,
      type,
      observationType: OBSERVATION_TYPES[type],
      unitOfMeasurement: unit === undefined
        ? { name: null, symbol: null, definition: null }
        : { name: known?.name ?? unit, symbol: unit, definition: known === undefined ? null : `${UCUM}#${encodeURIComponent(known.ucum)}` },
    })
  }
  cache.set(kind, fields)
  return fields
}

/** `coverAngle` → "Cover angle". */
function spelledOut (name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}
