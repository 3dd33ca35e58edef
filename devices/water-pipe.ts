// The water-pipe kind: a pressure/quality probe on a distribution main.
// Fields, units, ranges and required markers are the device contract firmware is built against
// (`citygw schema water-pipe` publishes them): a change here changes what deployed devices may send.
import { z } from 'zod'
import { defineKind } from './define-kind.ts'
import { batteryLow, clockSkew, outsideRange, rateDrop, stuckSensor, threshold } from './define-rule.ts'

const PRESSURE = 'US state drinking-water codes: ≥ 35 psi (241 kPa) in service, ≥ 20 psi (138 kPa) at all times; ≤ 80 psi (550 kPa) at taps'
const WHO = 'WHO Guidelines for Drinking-water Quality (4th ed.) and US EPA surface-water treatment rule'

// Trailing comments give each field's unit, range and required marker at a glance, so a review can
// compare the schema with the device contract field by field. `varies: true`: a live sensor's value
// changes from reading to reading (the stuckSensor rule watches it). Not waterTemp, turbidity,
// freeChlorine, pH: in a main they may sit within one step of the sensor's resolution for hours.
const waterPipeFields = {
  pressure: z.number().min(0).max(1600).meta({ unit: 'kPa', description: 'Water pressure (gauge)', varies: true }), // kPa 0–1600, required
  flowRate: z.number().min(-10_000).max(10_000).optional().meta({ label: 'Flow rate', unit: 'm³/h', description: 'Flow rate; negative = reverse flow', varies: true }), // m³/h −10000–10000
  totalVolume: z.number().min(0).optional().meta({ unit: 'm³', description: 'Volume passed, cumulative' }), // m³ ≥0
  waterTemp: z.number().min(0).max(50).optional().meta({ label: 'Water temperature', unit: '°C', description: 'Water temperature' }), // °C 0–50
  turbidity: z.number().min(0).max(1000).optional().meta({ unit: 'NTU', description: 'Turbidity' }), // NTU 0–1000
  freeChlorine: z.number().min(0).max(10).optional().meta({ unit: 'mg/L', description: 'Free chlorine concentration' }), // mg/L 0–10
  pH: z.number().min(0).max(14).optional().meta({ label: 'pH', unit: 'pH', description: 'Acidity' }), // 0–14
  leakScore: z.int().min(0).max(100).optional().meta({ unit: '1', description: 'Leak likelihood score from the acoustic sensor' }), // int 0–100
  battery: z.number().min(0).max(100).optional().meta({ unit: '%', description: 'Battery state of charge' }), // % 0–100
}

const waterPipeRules = [
  threshold({ type: 'lowPressure', source: PRESSURE, field: 'pressure', unit: 'kPa', label: 'Pressure', direction: 'below', levels: { minor: 241, critical: 138 }, levelForSec: { critical: 300 }, clear: 261 }),
  threshold({ type: 'highPressure', source: PRESSURE + '; 90 psi (620 kPa) strains fittings', field: 'pressure', unit: 'kPa', label: 'Pressure', direction: 'above', levels: { minor: 550, major: 620 }, clear: 530 }),
  rateDrop({ type: 'burstSuspected', source: 'water-utility practice: a sudden fall of ≥ 50 kPa within minutes signals a main break', field: 'pressure', unit: 'kPa', label: 'Pressure', severity: 'critical', drop: 50, withinSec: 300, recoverPct: 10 }),
  threshold({ type: 'turbidity', source: WHO + ': turbidity ideally < 1 NTU, never above 5 NTU', field: 'turbidity', unit: 'NTU', label: 'Turbidity', direction: 'above', levels: { major: 1, critical: 5 }, clear: 0.8 }),
  threshold({ type: 'chlorineLow', source: WHO + ': ≥ 0.2 mg/L free chlorine at the point of delivery', field: 'freeChlorine', unit: 'mg/L', label: 'Free chlorine', direction: 'below', levels: { major: 0.2 }, clear: 0.25 }),
  threshold({ type: 'chlorineHigh', source: 'US EPA MRDL 4 mg/L; WHO guideline value 5 mg/L', field: 'freeChlorine', unit: 'mg/L', label: 'Free chlorine', direction: 'above', levels: { minor: 4, major: 5 }, clear: 3.8 }),
  outsideRange({ type: 'phOutOfRange', source: 'US EPA secondary standard and WHO: pH 6.5–8.5', field: 'pH', unit: '', label: 'pH', severity: 'minor', low: 6.5, high: 8.5, clearLow: 6.6, clearHigh: 8.4 }),
  threshold({ type: 'leakSuspected', source: 'acoustic leak-noise correlators: a score ≥ 70 of 100 warrants a survey', field: 'leakScore', unit: '', label: 'Leak score', direction: 'above', inclusive: true, levels: { minor: 70 }, clear: 50 }),
  batteryLow,
  stuckSensor(waterPipeFields),
  clockSkew,
]

export const waterPipe = defineKind({
  name: 'water-pipe',
  measurement: 'water_pipe',
  fields: waterPipeFields,
  fieldTypes: {
    pressure: 'float',
    flowRate: 'float',
    totalVolume: 'float',
    waterTemp: 'float',
    turbidity: 'float',
    freeChlorine: 'float',
    pH: 'float',
    leakScore: 'integer',
    battery: 'float',
  },
  expectedIntervalSec: 300,
  rules: waterPipeRules,
})

export type WaterPipeReading = z.infer<typeof waterPipe.schema>
