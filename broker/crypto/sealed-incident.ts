// Incidents ↔ their stored form (DATA_DIR/incidents.json, the cluster's incidents bucket): who
// acknowledged (`ackedBy`) sealed with the data key, every other field as it is. A clear `ackedBy`
// written before encryption reads as it is and is sealed on the next write.
import type { Incident, StoredIncident } from '../alarms/incident-record.ts'
import { GatewayError } from '../errors.ts'
import { isSealed, type FieldCipher } from './field-cipher.ts'

type Convert = (value: string) => string

function convert<T extends Incident> (incident: T, fn: Convert): T {
  return incident.ackedBy === undefined ? incident : { ...incident, ackedBy: fn(incident.ackedBy) }
}

export function sealIncident<T extends Incident> (incident: T, cipher: FieldCipher | undefined): T {
  return cipher === undefined ? incident : convert(incident, function seal (value) { return cipher.seal('ackedBy', value) })
}

/**
 * The incident with `ackedBy` opened. Throws CSG_DATA_KEY_MISSING when it is sealed with a key not
 * held (or there is no key at all), CSG_DATA_UNREADABLE when it was altered.
 */
export function openIncident<T extends Incident> (incident: T, cipher: FieldCipher | undefined): T {
  return convert(incident, function open (value) {
    if (cipher !== undefined) return cipher.open('ackedBy', value)
    if (isSealed(value)) throw new GatewayError('CSG_DATA_KEY_MISSING', 'incidents are sealed and no data key was given (DATA_KEY_FILE)')
    return value
  })
}

export function resealIncident<T extends Incident> (incident: T, cipher: FieldCipher): T {
  return convert(incident, function reseal (value) { return cipher.reseal('ackedBy', value) })
}

export function sealStoredIncident (stored: StoredIncident, cipher: FieldCipher | undefined): StoredIncident {
  return { ...stored, incident: sealIncident(stored.incident, cipher) }
}

export function openStoredIncident (stored: StoredIncident, cipher: FieldCipher | undefined): StoredIncident {
  return { ...stored, incident: openIncident(stored.incident, cipher) }
}

export function resealStoredIncident (stored: StoredIncident, cipher: FieldCipher): StoredIncident {
  return { ...stored, incident: resealIncident(stored.incident, cipher) }
}
