// The manhole kind in NGSI-LD: a FIWARE Smart Data Models `Device` (dataModel.Device), a sensor
// under a well cover. Enters: one valid manhole reading. Leaves: Device attributes (category,
// controlledProperty, value, batteryLevel, dateLastValueReported) and each reading as a Property.
import { defineNgsiModel, property } from './ngsi-model.ts'

const FIELDS = {
  coverAngle: { attribute: 'coverAngle', unitCode: 'DD' },
  coverOpen: { attribute: 'coverOpen' },
  waterLevel: { attribute: 'waterLevel', unitCode: 'MTR' },
  h2s: { attribute: 'h2s', unitCode: '59' },
  ch4: { attribute: 'ch4', unitCode: 'P1' },
  o2: { attribute: 'o2', unitCode: 'P1' },
  temperature: { attribute: 'temperature', unitCode: 'CEL' },
  battery: { attribute: 'batteryLevel', scale: 0.01 },
} as const

/** What the sensor measures, in the model's controlledProperty vocabulary: cover movement, water depth, gases, temperature. */
const CONTROLLED = ['motion', 'depth', 'airPollution', 'temperature']

export const manholeNgsi = defineNgsiModel({
  entityType: 'Device',
  fields: FIELDS,
  derived: {
    category: '["sensor"]',
    controlledProperty: `${CONTROLLED.join(', ')} (coverAngle/coverOpen, waterLevel, h2s/ch4/o2, temperature)`,
    value: 'the reading as the model\'s value string: `name=value` pairs joined by `;`, percent-encoded',
    dateLastValueReported: 'the reading\'s time',
  },
  derive (values, observedAt) {
    const pairs = Object.entries(FIELDS)
      .filter(function isPresent ([field]) { return values[field] !== undefined })
      .map(function pair ([field, mapping]) { return `${mapping.attribute}=${String(values[field])}` })
    return {
      category: property(['sensor'], observedAt),
      controlledProperty: property(CONTROLLED, observedAt),
      value: property(encodeURIComponent(pairs.join(';')), observedAt),
      dateLastValueReported: property(observedAt, observedAt),
    }
  },
})
