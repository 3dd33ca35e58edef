// Alarm records ↔ their stored form: who acknowledged (`ackedBy`) and the note (`ackNote`) sealed
// with the data key, every other field as it is. Applied wherever a record leaves memory for a
// disk or a bucket (alarms.json, the cluster's alarms bucket), and undone where it is read back.
import type { AlarmRecord, OpenAlarm } from '../alarms/alarm.ts'
import type { FieldCipher } from './field-cipher.ts'

type Convert = (field: 'ackedBy' | 'ackNote', value: string) => string

function convert (alarm: AlarmRecord, fn: Convert): AlarmRecord {
  if (alarm.ackedBy === undefined && alarm.ackNote === undefined) return alarm
  const out = { ...alarm }
  if (alarm.ackedBy !== undefined) out.ackedBy = fn('ackedBy', alarm.ackedBy)
  if (alarm.ackNote !== undefined) out.ackNote = fn('ackNote', alarm.ackNote)
  return out
}

/** The record as stored: personal fields sealed with the current key. */
export function sealAlarm (alarm: AlarmRecord, cipher: FieldCipher): AlarmRecord {
  return convert(alarm, function seal (field, value) { return cipher.seal(field, value) })
}

/** The record as read back: personal fields opened (clear text from before encryption passes). Throws GatewayError. */
export function openAlarm (alarm: AlarmRecord, cipher: FieldCipher): AlarmRecord {
  return convert(alarm, function open (field, value) { return cipher.open(field, value) })
}

/** The record with personal fields sealed with the current key, whatever key sealed them before (rotate). */
export function resealAlarm (alarm: AlarmRecord, cipher: FieldCipher): AlarmRecord {
  return convert(alarm, function reseal (field, value) { return cipher.reseal(field, value) })
}

export function sealOpenAlarm<T extends OpenAlarm> (entry: T, cipher: FieldCipher): T {
  return { ...entry, alarm: sealAlarm(entry.alarm, cipher) }
}

export function openOpenAlarm<T extends OpenAlarm> (entry: T, cipher: FieldCipher): T {
  return { ...entry, alarm: openAlarm(entry.alarm, cipher) }
}

export function resealOpenAlarm<T extends OpenAlarm> (entry: T, cipher: FieldCipher): T {
  return { ...entry, alarm: resealAlarm(entry.alarm, cipher) }
}
