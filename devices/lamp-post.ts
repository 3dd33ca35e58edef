// The lamp-post kind: a street light's driver and photocell (TALQ / FIWARE Streetlight vocabulary).
// Fields, units, ranges and required markers are exactly CONTRACT.md "Kinds and fields".
import { z } from 'zod'
import { defineKind } from './define-kind.ts'

// Trailing comments repeat the contract line so a review compares field by field.
export const lampPost = defineKind({
  name: 'lamp-post',
  measurement: 'lamp_post',
  fields: {
    commandedLevel: z.int().min(0).max(100).meta({ unit: '%', description: 'Commanded light level; 0 = commanded off' }), // % int 0–100, required
    actualLevel: z.int().min(0).max(100).optional().meta({ unit: '%', description: 'Measured light level' }), // % int 0–100
    supplyVoltage: z.number().min(0).max(300).meta({ unit: 'V', description: 'Mains supply voltage' }), // V 0–300, required
    supplyCurrent: z.number().min(0).max(16).optional().meta({ unit: 'A', description: 'Supply current' }), // A 0–16
    activePower: z.number().min(0).max(2000).meta({ unit: 'W', description: 'Active power drawn' }), // W 0–2000, required
    powerFactor: z.number().min(0).max(1).optional().meta({ unit: '1', description: 'Power factor' }), // 0–1, dimensionless
    activeEnergy: z.number().min(0).optional().meta({ unit: 'kWh', description: 'Active energy, cumulative since installation' }), // kWh ≥0
    operatingHours: z.number().min(0).optional().meta({ unit: 'h', description: 'Lamp operating hours, cumulative' }), // h ≥0
    gearTemp: z.number().min(-40).max(125).optional().meta({ unit: '°C', description: 'Control gear (driver) temperature' }), // °C −40–125
    tilt: z.number().min(0).max(90).optional().meta({ unit: '°', description: 'Pole tilt from vertical' }), // ° 0–90
    ambientLux: z.number().min(0).max(100_000).optional().meta({ unit: 'lx', description: 'Ambient illuminance at the photocell' }), // lx 0–100000
    doorOpen: z.boolean().optional().meta({ description: 'Pole access door is open' }), // bool
    leakage: z.boolean().optional().meta({ description: 'Earth leakage detected' }), // bool
    lampFailure: z.boolean().optional().meta({ description: 'Lamp or LED module failure reported by the driver' }), // bool
  },
  fieldTypes: {
    commandedLevel: 'integer',
    actualLevel: 'integer',
    supplyVoltage: 'float',
    supplyCurrent: 'float',
    activePower: 'float',
    powerFactor: 'float',
    activeEnergy: 'float',
    operatingHours: 'float',
    gearTemp: 'float',
    tilt: 'float',
    ambientLux: 'float',
    doorOpen: 'boolean',
    leakage: 'boolean',
    lampFailure: 'boolean',
  },
  expectedIntervalSec: 60,
})

export type LampPostReading = z.infer<typeof lampPost.schema>
