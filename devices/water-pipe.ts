// The water-pipe kind: a pressure/quality probe on a distribution main.
// Fields, units, ranges and required markers are exactly CONTRACT.md "Kinds and fields".
import { z } from 'zod'
import { defineKind } from './define-kind.ts'

// Trailing comments repeat the contract line so a review compares field by field.
export const waterPipe = defineKind({
  name: 'water-pipe',
  measurement: 'water_pipe',
  fields: {
    pressure: z.number().min(0).max(1600).meta({ unit: 'kPa', description: 'Water pressure (gauge)' }), // kPa 0–1600, required
    flowRate: z.number().min(-10_000).max(10_000).optional().meta({ unit: 'm³/h', description: 'Flow rate; negative = reverse flow' }), // m³/h −10000–10000
    totalVolume: z.number().min(0).optional().meta({ unit: 'm³', description: 'Volume passed, cumulative' }), // m³ ≥0
    waterTemp: z.number().min(0).max(50).optional().meta({ unit: '°C', description: 'Water temperature' }), // °C 0–50
    turbidity: z.number().min(0).max(1000).optional().meta({ unit: 'NTU', description: 'Turbidity' }), // NTU 0–1000
    freeChlorine: z.number().min(0).max(10).optional().meta({ unit: 'mg/L', description: 'Free chlorine concentration' }), // mg/L 0–10
    pH: z.number().min(0).max(14).optional().meta({ unit: 'pH', description: 'Acidity' }), // 0–14
    leakScore: z.int().min(0).max(100).optional().meta({ unit: '1', description: 'Leak likelihood score from the acoustic sensor' }), // int 0–100
    battery: z.number().min(0).max(100).optional().meta({ unit: '%', description: 'Battery state of charge' }), // % 0–100
  },
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
})

export type WaterPipeReading = z.infer<typeof waterPipe.schema>
