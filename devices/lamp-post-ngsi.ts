// The lamp-post kind in NGSI-LD: a FIWARE Smart Data Models `Streetlight` (dataModel.Streetlighting).
// Enters: one valid lamp-post reading. Leaves: Streetlight attributes; status and powerState derived
// from the reading's own flags and levels (the model requires status), the readings as extra Properties.
import { defineNgsiModel, numberOf, property, type NgsiAttributes } from './ngsi-model.ts'

/** A pole leaning further than this (degrees) is reported as `columnIssue`; the poleTilt rule's default. */
export const COLUMN_TILT_DEG = 5

export const lampPostNgsi = defineNgsiModel({
  entityType: 'Streetlight',
  fields: {
    commandedLevel: { attribute: 'commandedLevel', unitCode: 'P1' },
    actualLevel: { attribute: 'actualLevel', unitCode: 'P1' },
    supplyVoltage: { attribute: 'supplyVoltage', unitCode: 'VLT' },
    supplyCurrent: { attribute: 'supplyCurrent', unitCode: 'AMP' },
    activePower: { attribute: 'activePower', unitCode: 'WTT' },
    powerFactor: { attribute: 'powerFactor' },
    activeEnergy: { attribute: 'activeEnergy', unitCode: 'KWH' },
    operatingHours: { attribute: 'operatingHours', unitCode: 'HUR' },
    gearTemp: { attribute: 'gearTemperature', unitCode: 'CEL' },
    tilt: { attribute: 'tilt', unitCode: 'DD' },
    ambientLux: { attribute: 'ambientLuminance', unitCode: 'LUX' },
    doorOpen: { attribute: 'doorOpen' },
    leakage: { attribute: 'leakage' },
    lampFailure: { attribute: 'lampFailure' },
  },
  derived: {
    status: `defectiveLamp when lampFailure is true; columnIssue when doorOpen is true or tilt > ${COLUMN_TILT_DEG}°; else ok`,
    powerState: 'from actualLevel (else commandedLevel): 0 → off, 1–99 → low (dimmed), 100 → on',
    illuminanceLevel: 'actualLevel (else commandedLevel) / 100, 0–1 as the model defines it',
  },
  derive (values, observedAt): NgsiAttributes {
    const derived: NgsiAttributes = { status: property(statusOf(values), observedAt) }
    const level = numberOf(values, 'actualLevel') ?? numberOf(values, 'commandedLevel')
    if (level !== undefined) {
      derived.powerState = property(level === 0 ? 'off' : level >= 100 ? 'on' : 'low', observedAt)
      derived.illuminanceLevel = property(level / 100, observedAt)
    }
    return derived
  },
})

function statusOf (values: Readonly<Record<string, number | boolean>>): 'ok' | 'defectiveLamp' | 'columnIssue' {
  if (values.lampFailure === true) return 'defectiveLamp'
  const tilt = numberOf(values, 'tilt')
  if (values.doorOpen === true || (tilt !== undefined && tilt > COLUMN_TILT_DEG)) return 'columnIssue'
  return 'ok'
}
