// The water-pipe kind in NGSI-LD: a FIWARE Smart Data Models `WaterQualityObserved`
// (dataModel.WaterQuality). Enters: one valid water-pipe reading. Leaves: the quality measurands under
// the model's names, dateObserved, and the hydraulic readings (flow, pressure, volume) as extra
// Properties of the same entity: one entity per pipe sensor keeps one update per reading.
import { defineNgsiModel, property } from './ngsi-model.ts'

export const waterPipeNgsi = defineNgsiModel({
  entityType: 'WaterQualityObserved',
  fields: {
    pH: { attribute: 'pH' },
    turbidity: { attribute: 'turbidity' },
    freeChlorine: { attribute: 'freeChlorine', unitCode: 'M1' },
    waterTemp: { attribute: 'temperature', unitCode: 'CEL' },
    flowRate: { attribute: 'flow', unitCode: 'MQH' },
    pressure: { attribute: 'pressure', unitCode: 'KPA' },
    totalVolume: { attribute: 'totalVolume', unitCode: 'MTQ' },
    leakScore: { attribute: 'leakScore', unitCode: 'P1' },
    battery: { attribute: 'batteryLevel', scale: 0.01 },
  },
  derived: { dateObserved: 'the reading\'s time (ISO-8601), required by the model' },
  derive (_values, observedAt) {
    return { dateObserved: property(observedAt, observedAt) }
  },
})
