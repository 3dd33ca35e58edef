// The manhole kind: a well-cover sensor with water level and gas detection.
// Fields, units, ranges and required markers are the device contract firmware is built against
// (`citygw schema manhole` publishes them): a change here changes what deployed devices may send.
import { z } from 'zod'
import { defineKind } from './define-kind.ts'
import { batteryLow, clockSkew, defineRule, outsideRange, stuckSensor, threshold, type ReadingView } from './define-rule.ts'

const GAS = 'confined-space gas-detector practice (EN 60079-29, OSHA 1910.146): H2S alarms at 10/20 ppm, CH4 at 10/20 %LEL, O2 outside 19.5–23.5 %vol'

function angleOf (r: ReadingView): number | undefined {
  const value = r.values.coverAngle
  return typeof value === 'number' ? Math.abs(value) : undefined
}

/** A lifted or displaced cover is a fall hazard on the street: raise fast, clear only when settled. */
const coverOpen = defineRule({
  type: 'coverOpen',
  source: 'well-cover tilt sensors: > 10° held 10 s rules out vehicle jolts; > 90° means removed',
  params: { angle: 10, heldSec: 10, wideAngle: 90, clearAngle: 7, clearSec: 60 },
  build (p) {
    const angleValue = (r: ReadingView): number => angleOf(r) ?? 0
    return {
      type: 'coverOpen',
      fields: ['coverAngle', 'coverOpen'],
      triggers: [
        { severity: 'critical', forSec: p.heldSec, when (r) { return (angleOf(r) ?? 0) > p.angle }, value: angleValue, threshold () { return p.angle } },
        { severity: 'critical', when (r) { return (angleOf(r) ?? 0) > p.wideAngle }, value: angleValue, threshold () { return p.wideAngle } },
        { severity: 'critical', when (r) { return r.values.coverOpen === true }, value: angleValue, threshold () { return p.angle } },
      ],
      clearForSec: p.clearSec,
      clear (r) {
        const angle = angleOf(r)
        return angle !== undefined && angle < p.clearAngle && r.values.coverOpen !== true
      },
      describe (_severity, value) {
        return `Cover is open or lifted: angle ${Math.round(value * 10) / 10}° (alarm above ${p.angle}°).`
      },
      describeClear (value) {
        return `Cover is closed again: angle ${Math.round(value * 10) / 10}° for ${p.clearSec} s.`
      },
    }
  },
})

// Trailing comments give each field's unit, range and required marker at a glance, so a review can
// compare the schema with the device contract field by field. `varies: true`: a live sensor's value
// changes from reading to reading (the stuckSensor rule watches it); a dry shaft's waterLevel of 0
// rests there and does not count. Not coverAngle (a closed cover sits still), nor the gases (0).
const manholeFields = {
  coverAngle: z.number().min(0).max(180).meta({ unit: '°', description: 'Cover angle from closed' }), // ° 0–180, required
  coverOpen: z.boolean().optional().meta({ description: 'Cover is open, as judged by the device' }), // bool
  waterLevel: z.number().min(0).max(20).optional().meta({ unit: 'm', description: 'Water level in the shaft', varies: true }), // m 0–20
  h2s: z.number().min(0).max(200).optional().meta({ label: 'H₂S', unit: 'ppm', description: 'Hydrogen sulphide concentration' }), // ppm 0–200
  ch4: z.number().min(0).max(100).optional().meta({ label: 'CH₄', unit: '%LEL', description: 'Methane, share of the lower explosive limit' }), // %LEL 0–100
  o2: z.number().min(0).max(30).optional().meta({ label: 'O₂', unit: '%vol', description: 'Oxygen concentration' }), // %vol 0–30
  temperature: z.number().min(-40).max(85).optional().meta({ unit: '°C', description: 'Air temperature in the shaft', varies: true }), // °C −40–85
  battery: z.number().min(0).max(100).optional().meta({ unit: '%', description: 'Battery state of charge' }), // % 0–100
}

const manholeRules = [
  coverOpen,
  threshold({ type: 'highWater', source: 'sewer operators: surcharge warning levels below the cover', field: 'waterLevel', unit: 'm', label: 'Water level', direction: 'above', levels: { major: 1.0, critical: 1.5 }, clear: 0.95 }),
  threshold({ type: 'h2s', source: GAS, field: 'h2s', unit: 'ppm', label: 'Hydrogen sulphide', direction: 'above', inclusive: true, levels: { major: 10, critical: 20 }, clear: 8 }),
  threshold({ type: 'ch4', source: GAS, field: 'ch4', unit: '%LEL', label: 'Methane', direction: 'above', inclusive: true, levels: { major: 10, critical: 20 }, clear: 8 }),
  outsideRange({ type: 'o2', source: GAS, field: 'o2', unit: '%vol', label: 'Oxygen', severity: 'major', low: 19.5, high: 23.5 }),
  batteryLow,
  stuckSensor(manholeFields),
  clockSkew,
]

export const manhole = defineKind({
  name: 'manhole',
  measurement: 'manhole',
  fields: manholeFields,
  fieldTypes: {
    coverAngle: 'float',
    coverOpen: 'boolean',
    waterLevel: 'float',
    h2s: 'float',
    ch4: 'float',
    o2: 'float',
    temperature: 'float',
    battery: 'float',
  },
  expectedIntervalSec: 3600,
  rules: manholeRules,
})

export type ManholeReading = z.infer<typeof manhole.schema>
