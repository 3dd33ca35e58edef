// The manhole kind: a well-cover sensor with water level and gas detection.
// Fields, units, ranges and required markers are exactly CONTRACT.md "Kinds and fields".
import { z } from 'zod'
import { defineKind } from './define-kind.ts'

// Trailing comments repeat the contract line so a review compares field by field.
export const manhole = defineKind({
  name: 'manhole',
  measurement: 'manhole',
  fields: {
    coverAngle: z.number().min(0).max(180).meta({ unit: '°', description: 'Cover angle from closed' }), // ° 0–180, required
    coverOpen: z.boolean().optional().meta({ description: 'Cover is open, as judged by the device' }), // bool
    waterLevel: z.number().min(0).max(20).optional().meta({ unit: 'm', description: 'Water level in the shaft' }), // m 0–20
    h2s: z.number().min(0).max(200).optional().meta({ unit: 'ppm', description: 'Hydrogen sulphide concentration' }), // ppm 0–200
    ch4: z.number().min(0).max(100).optional().meta({ unit: '%LEL', description: 'Methane, share of the lower explosive limit' }), // %LEL 0–100
    o2: z.number().min(0).max(30).optional().meta({ unit: '%vol', description: 'Oxygen concentration' }), // %vol 0–30
    temperature: z.number().min(-40).max(85).optional().meta({ unit: '°C', description: 'Air temperature in the shaft' }), // °C −40–85
    battery: z.number().min(0).max(100).optional().meta({ unit: '%', description: 'Battery state of charge' }), // % 0–100
  },
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
})

export type ManholeReading = z.infer<typeof manhole.schema>
