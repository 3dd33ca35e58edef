// The lamp-post kind: a street light's driver and photocell (TALQ / FIWARE Streetlight vocabulary).
// Fields, units, ranges and required markers are the device contract firmware is built against
// (`citygw schema lamp-post` publishes them): a change here changes what deployed devices may send.
import { z } from 'zod'
import { defineKind } from './define-kind.ts'
import { clockSkew, defineRule, flag, stuckSensor, threshold, type ReadingView } from './define-rule.ts'

const EN_50160 = 'EN 50160: supply voltage 230 V ±10 % (207–253 V) over 10-minute means'

function num (r: ReadingView, field: string): number | undefined {
  const value = r.values[field]
  return typeof value === 'number' ? value : undefined
}

/** The lamp draws (almost) nothing although it is commanded on, or the driver says it failed. */
const lampFailure = defineRule({
  type: 'lampFailure',
  source: 'TALQ lamp-failure event; < 5 W with level > 0 is an open circuit or dead LED module',
  params: { maxPowerW: 5, readings: 2 },
  build (p) {
    const isDark = (r: ReadingView): boolean => {
      const level = num(r, 'commandedLevel')
      const power = num(r, 'activePower')
      return level !== undefined && power !== undefined && level > 0 && power < p.maxPowerW
    }
    return {
      type: 'lampFailure',
      fields: ['commandedLevel', 'activePower', 'lampFailure'],
      triggers: [
        { severity: 'major', forReadings: p.readings, when: isDark, value (r) { return num(r, 'activePower') ?? 0 }, threshold () { return p.maxPowerW } },
        // The reported flag carries the power the lamp draws (not a 1-for-true placeholder): crews read it as watts.
        { severity: 'major', when (r) { return r.values.lampFailure === true }, value (r) { return num(r, 'activePower') ?? 0 }, threshold () { return p.maxPowerW } },
      ],
      describe (_severity, value, limit) {
        return value < limit
          ? `Lamp is commanded on but draws only ${value} W (alarm below ${limit} W): open circuit or dead LED module.`
          : `Lamp reports a lamp failure while drawing ${value} W.`
      },
      describeClear (value) {
        return `Lamp draws ${value} W as commanded again, with no failure reported.`
      },
    }
  },
})

/** Burning in daylight wastes energy: power drawn while the photocell sees day. */
const dayBurner = defineRule({
  type: 'dayBurner',
  source: 'municipal street-lighting practice: lamps off above ~50 lx ambient',
  params: { minPowerW: 5, minLux: 50, forSec: 600 },
  build (p) {
    return {
      type: 'dayBurner',
      fields: ['activePower', 'ambientLux'],
      triggers: [{
        severity: 'minor',
        forSec: p.forSec,
        when (r) {
          const power = num(r, 'activePower')
          const lux = num(r, 'ambientLux')
          return power !== undefined && lux !== undefined && power > p.minPowerW && lux > p.minLux
        },
        value (r) { return num(r, 'activePower') ?? 0 },
        threshold () { return p.minPowerW },
      }],
      describe (_severity, value) {
        return `Lamp draws ${value} W in daylight (above ${p.minLux} lx) for more than ${p.forSec / 60} min.`
      },
      describeClear () {
        return 'Lamp is off in daylight again.'
      },
    }
  },
})

// Trailing comments give each field's unit, range and required marker at a glance, so a review can
// compare the schema with the device contract field by field. `varies: true`: a live sensor's value
// changes from reading to reading (the stuckSensor rule watches it). Not activePower: at a fixed
// dimming level a driver holds its power, and an off or failed lamp draws a constant standby (the
// metering chip that would freeze measures supplyVoltage too); not gearTemp: drivers report whole °C.
const lampPostFields = {
  commandedLevel: z.int().min(0).max(100).meta({ unit: '%', description: 'Commanded light level; 0 = commanded off' }), // % int 0–100, required
  actualLevel: z.int().min(0).max(100).optional().meta({ unit: '%', description: 'Measured light level' }), // % int 0–100
  supplyVoltage: z.number().min(0).max(300).meta({ unit: 'V', description: 'Mains supply voltage', varies: true }), // V 0–300, required
  supplyCurrent: z.number().min(0).max(16).optional().meta({ unit: 'A', description: 'Supply current' }), // A 0–16
  activePower: z.number().min(0).max(2000).meta({ unit: 'W', description: 'Active power drawn' }), // W 0–2000, required
  powerFactor: z.number().min(0).max(1).optional().meta({ unit: '1', description: 'Power factor' }), // 0–1, dimensionless
  activeEnergy: z.number().min(0).optional().meta({ unit: 'kWh', description: 'Active energy, cumulative since installation' }), // kWh ≥0
  operatingHours: z.number().min(0).optional().meta({ unit: 'h', description: 'Lamp operating hours, cumulative' }), // h ≥0
  gearTemp: z.number().min(-40).max(125).optional().meta({ label: 'Gear temperature', unit: '°C', description: 'Control gear (driver) temperature' }), // °C −40–125
  tilt: z.number().min(0).max(90).optional().meta({ unit: '°', description: 'Pole tilt from vertical' }), // ° 0–90
  ambientLux: z.number().min(0).max(100_000).optional().meta({ label: 'Ambient light', unit: 'lx', description: 'Ambient illuminance at the photocell' }), // lx 0–100000
  doorOpen: z.boolean().optional().meta({ description: 'Pole access door is open' }), // bool
  leakage: z.boolean().optional().meta({ description: 'Earth leakage detected' }), // bool
  lampFailure: z.boolean().optional().meta({ description: 'Lamp or LED module failure reported by the driver' }), // bool
}

const lampPostRules = [
  lampFailure,
  dayBurner,
  threshold({ type: 'overVoltage', source: EN_50160, field: 'supplyVoltage', unit: 'V', label: 'Supply voltage', direction: 'above', levels: { minor: 253 }, clear: 248, forSec: 600 }),
  threshold({ type: 'underVoltage', source: EN_50160, field: 'supplyVoltage', unit: 'V', label: 'Supply voltage', direction: 'below', levels: { minor: 207 }, clear: 212, forSec: 600 }),
  threshold({ type: 'supplyLoss', source: 'EN 50160 supply interruption: below 5 % of 230 V; 50 V leaves no doubt', field: 'supplyVoltage', unit: 'V', label: 'Supply voltage', direction: 'below', levels: { major: 50 }, clear: 50 }),
  flag({ type: 'leakage', source: 'IEC 60364-4-41: earth leakage on a public pole is an electric-shock hazard', field: 'leakage', severity: 'critical', sentence: 'Earth leakage detected on the pole: electric-shock hazard.', clearSentence: 'Earth leakage is no longer detected.' }),
  threshold({ type: 'poleTilt', source: 'EN 40-3 lighting columns: a lean of 5° needs inspection, 10° risks collapse', field: 'tilt', unit: '°', label: 'Pole tilt', direction: 'above', levels: { major: 5, critical: 10 }, clear: 3 }),
  flag({ type: 'doorOpen', source: 'access-door switch: open door exposes live parts', field: 'doorOpen', severity: 'minor', sentence: 'The pole\'s access door is open.', clearSentence: 'The pole\'s access door is closed again.' }),
  threshold({ type: 'gearOverTemp', source: 'LED driver datasheets: lifetime halves above ~70 °C case temperature, shutdown near 85 °C', field: 'gearTemp', unit: '°C', label: 'Control gear temperature', direction: 'above', levels: { minor: 70, major: 85 }, clear: 60 }),
  stuckSensor(lampPostFields),
  clockSkew,
]

export const lampPost = defineKind({
  name: 'lamp-post',
  measurement: 'lamp_post',
  fields: lampPostFields,
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
  rules: lampPostRules,
})

export type LampPostReading = z.infer<typeof lampPost.schema>
