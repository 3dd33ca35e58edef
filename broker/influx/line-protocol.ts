// Pure encoders: points (telemetry, rejected input, later alarms) in; InfluxDB line protocol out,
// timestamps in ms (the writer must send precision=ms). Every line is exactly one line: no raw
// newline can leave here whatever the input, and field types follow the kind (README "InfluxDB").
import type { DeviceKind, FieldType } from '../../devices/define-kind.ts'
import type { ValidReading } from '../ingest/validate.ts'

/** One field of a point; the type decides the encoding (`1i`, `1`, `true`, `"s"`). */
export type PointField =
  | { readonly key: string, readonly type: 'integer' | 'float', readonly value: number }
  | { readonly key: string, readonly type: 'boolean', readonly value: boolean }
  | { readonly key: string, readonly type: 'string', readonly value: string }

/** Bytes of raw payload kept in a `rejected` point (README "InfluxDB": "cut to 4 KiB"). */
export const REJECTED_PAYLOAD_MAX_BYTES = 4096
/** The same cap on `issues`: a 100-reading batch can describe itself at length; the device notice has the full list. */
export const REJECTED_ISSUES_MAX_BYTES = 4096

// Escaping follows the line-protocol "special characters" table: measurement: comma, space;
// tag keys, tag values, field keys: comma, equals sign, space; string field values: `"` and `\`.
// Beyond the table:
// - A backslash in names and tags is doubled. A lone trailing backslash would otherwise escape the
//   separator after it and corrupt the line; InfluxDB 2.x/3.x read `\\` as one backslash (1.x may
//   keep both). Device ids and districts cannot hold one (registry/schema.ts: `A-Z a-z 0-9 - _ .`).
// - Line protocol cannot carry a newline in any element (InfluxDB docs: "does not support the
//   newline character"), so CR and LF become the two-character text `\r` / `\n` in the stored value.
//   That is lossy only for text that already held a literal backslash-n, which is fine for diagnostics.
// Tabs are left alone: only space and newline delimit line-protocol elements.
const MEASUREMENT_SPECIAL = /[\\, \n\r]/g
const TAG_SPECIAL = /[\\,= \n\r]/g
const STRING_SPECIAL = /[\\"\n\r]/g
const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  ',': '\\,',
  '=': '\\=',
  ' ': '\\ ',
  '"': '\\"',
  '\n': '\\\\n',
  '\r': '\\\\r',
}
const escapeChar = (ch: string): string => ESCAPES[ch] ?? ch

/** Escapes a measurement name. */
export function escapeMeasurement (name: string): string {
  return name.replace(MEASUREMENT_SPECIAL, escapeChar)
}

/** Escapes a tag key, a tag value or a field key. */
export function escapeTag (text: string): string {
  return text.replace(TAG_SPECIAL, escapeChar)
}

/** Escapes a string field value, without the surrounding quotes. */
export function escapeFieldString (text: string): string {
  return text.replace(STRING_SPECIAL, escapeChar)
}

/**
 * One point as one line. Tags are sorted by key (InfluxDB's advice, and deterministic); tags with an
 * empty value are omitted, as InfluxDB refuses them. Fields keep the caller's order.
 * Throws a RangeError on programmer errors that would otherwise make InfluxDB refuse the whole batch:
 * no fields, a non-finite number, a non-integer integer field, a non-finite timestamp.
 * @param tsMs epoch milliseconds; a fraction is truncated.
 */
export function encodePoint (
  measurement: string,
  tags: Readonly<Record<string, string>>,
  fields: readonly PointField[],
  tsMs: number,
): string {
  if (fields.length === 0) throw new RangeError(`a point of ${measurement} needs at least one field`)
  let fieldSet = ''
  for (const field of fields) {
    fieldSet += `${fieldSet === '' ? '' : ','}${escapeTag(field.key)}=${formatValue(field)}`
  }
  return `${escapeMeasurement(measurement)}${formatTags(tags)} ${fieldSet} ${formatTimestamp(tsMs)}`
}

/**
 * One telemetry reading as one line: measurement of the kind, tags `device_id` and `district`,
 * the reading's fields in the kind's order, each with its kind's InfluxDB type.
 */
export function encodeTelemetry (
  kind: DeviceKind,
  tags: TelemetryTags,
  reading: ValidReading,
): string {
  return encodeTelemetryLine(telemetrySeriesKey(kind, tags), kind, reading)
}

export interface TelemetryTags { readonly deviceId: string, readonly district: string }

/** Measurement and tags of a device's telemetry lines, escaped: what stays the same for all its readings. */
export function telemetrySeriesKey (kind: DeviceKind, tags: TelemetryTags): string {
  // Tags written in sorted order by hand: device_id < district.
  return `${compile(kind).prefix}${formatTag('device_id', tags.deviceId)}${formatTag('district', tags.district)}`
}

/** encodeTelemetry with the series key made once per device (telemetrySeriesKey), for the hot path. */
export function encodeTelemetryLine (seriesKey: string, kind: DeviceKind, reading: ValidReading): string {
  const { fields } = compile(kind)
  const { values } = reading
  let fieldSet = ''
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!
    const value = values[field.name]
    if (value === undefined) continue
    fieldSet += `${fieldSet === '' ? '' : ','}${field.keyEq}${formatTyped(field.type, value, field.name)}`
  }
  if (fieldSet === '') throw new RangeError(`a ${kind.name} reading needs at least one field`)
  return `${seriesKey} ${fieldSet} ${formatTimestamp(reading.tsMs)}`
}

export interface RejectedPoint {
  readonly deviceId: string
  /** A stable reason code (validate.ts, or the ingest stage's own such as `too_large`). */
  readonly reason: string
  /** The raw message; stored as UTF-8 text (invalid bytes replaced), cut to 4 KiB on a character boundary. */
  readonly payload: Uint8Array
  /** Human description of what was wrong; cut to 4 KiB likewise. */
  readonly issues: string
  /** Epoch ms, normally the time of receipt. */
  readonly tsMs: number
}

/** A refused message as one `rejected` line: tags `device_id`, `reason`; string fields `payload`, `issues`. */
export function encodeRejected (point: RejectedPoint): string {
  const head = point.payload.subarray(0, REJECTED_PAYLOAD_MAX_BYTES + UTF8_MAX_CHAR_BYTES - 1)
  const payloadText = cutUtf8(lossyUtf8.decode(head), REJECTED_PAYLOAD_MAX_BYTES)
  return encodePoint(
    'rejected',
    { device_id: point.deviceId, reason: point.reason },
    [
      { key: 'payload', type: 'string', value: payloadText },
      { key: 'issues', type: 'string', value: cutUtf8(point.issues, REJECTED_ISSUES_MAX_BYTES) },
    ],
    point.tsMs,
  )
}

export interface AlarmPoint {
  readonly deviceId: string
  readonly district: string
  readonly kind: string
  readonly type: string
  readonly severity: string
  readonly state: string
  readonly value: number
  readonly threshold: number
  readonly message: string
  /** The alarm's id, the same from raise to clear: ties its points together (history, timeline). */
  readonly alarmId: string
  readonly change: 'raised' | 'escalated' | 'overdue' | 'acknowledged' | 'cleared' | 'flapping' | 'unflapping'
  /** The escalation steps so far (on an overdue point: its step, 1, 2, …); absent before the first. */
  readonly escalation?: number | undefined
  /** On acknowledged points: who acknowledged, with the note if there was one. */
  readonly ackedBy?: string | undefined
  readonly ackNote?: string | undefined
  /** Seconds from raise to acknowledgement (acknowledged points) and from raise to clear (cleared points). */
  readonly ackSec?: number | undefined
  readonly clearSec?: number | undefined
  /** The maintenance window the change was made in (not pushed to crews). */
  readonly maintenance?: string | undefined
  /** The incident the alarm joined (not pushed to crews on its own). */
  readonly incident?: string | undefined
  readonly tsMs: number
}

/** The longest note kept in a point; crews' notes are at most 500 characters, so this only guards the encoder. */
const ALARM_TEXT_MAX_BYTES = REJECTED_ISSUES_MAX_BYTES

/** One alarm state change as one `alarms` line (README "InfluxDB"). */
export function encodeAlarm (point: AlarmPoint): string {
  const fields: PointField[] = [{ key: 'state', type: 'string', value: point.state }]
  // A value the rule could not compute (NaN) is left out rather than refused by InfluxDB.
  if (Number.isFinite(point.value)) fields.push({ key: 'value', type: 'float', value: point.value })
  if (Number.isFinite(point.threshold)) fields.push({ key: 'threshold', type: 'float', value: point.threshold })
  fields.push({ key: 'message', type: 'string', value: cutUtf8(point.message, ALARM_TEXT_MAX_BYTES) })
  fields.push({ key: 'alarm_id', type: 'string', value: point.alarmId })
  fields.push({ key: 'change', type: 'string', value: point.change })
  if (point.change === 'acknowledged') {
    if (point.ackedBy !== undefined) fields.push({ key: 'acked_by', type: 'string', value: point.ackedBy })
    if (point.ackNote !== undefined) fields.push({ key: 'note', type: 'string', value: cutUtf8(point.ackNote, ALARM_TEXT_MAX_BYTES) })
    if (point.ackSec !== undefined && Number.isFinite(point.ackSec)) fields.push({ key: 'ack_sec', type: 'float', value: point.ackSec })
  }
  if (point.escalation !== undefined) fields.push({ key: 'escalation', type: 'integer', value: point.escalation })
  if (point.change === 'cleared' && point.clearSec !== undefined && Number.isFinite(point.clearSec)) {
    fields.push({ key: 'clear_sec', type: 'float', value: point.clearSec })
  }
  if (point.maintenance !== undefined) fields.push({ key: 'maintenance', type: 'string', value: point.maintenance })
  if (point.incident !== undefined) fields.push({ key: 'incident', type: 'string', value: point.incident })
  return encodePoint(
    'alarms',
    { device_id: point.deviceId, district: point.district, kind: point.kind, type: point.type, severity: point.severity },
    fields,
    point.tsMs,
  )
}

/**
 * The longest prefix of `text` whose stored value (newlines count as their two-character
 * replacement) fits in `maxBytes` of UTF-8, never splitting a character.
 */
export function cutUtf8 (text: string, maxBytes: number): string {
  // Newlines first, so the cut measures what InfluxDB will store.
  const stored = text.replace(/[\n\r]/g, (ch) => (ch === '\n' ? '\\n' : '\\r'))
  // encodeInto stops before a character that does not fit, and never splits a surrogate pair.
  const { read } = utf8Encoder.encodeInto(stored, new Uint8Array(maxBytes))
  return read === stored.length ? stored : stored.slice(0, read)
}

// Decoding only the head of the payload is enough: every raw byte becomes at least one stored byte,
// so what lies beyond byte 4096 cannot survive the cut. The 3 extra bytes complete a character that
// starts before the limit, which would otherwise decode as a spurious U+FFFD.
const UTF8_MAX_CHAR_BYTES = 4
const lossyUtf8 = new TextDecoder('utf-8')
const utf8Encoder = new TextEncoder()

interface CompiledField {
  readonly name: string
  readonly type: FieldType
  /** `escapedKey=`, built once. */
  readonly keyEq: string
}
interface CompiledKind {
  /** The escaped measurement. */
  readonly prefix: string
  readonly fields: readonly CompiledField[]
}
const compiled = new WeakMap<DeviceKind, CompiledKind>()

function compile (kind: DeviceKind): CompiledKind {
  let entry = compiled.get(kind)
  if (entry === undefined) {
    entry = {
      prefix: escapeMeasurement(kind.measurement),
      fields: kind.fieldNames.map((name) => ({ name, type: kind.fieldTypes[name] as FieldType, keyEq: `${escapeTag(name)}=` })),
    }
    compiled.set(kind, entry)
  }
  return entry
}

function formatTags (tags: Readonly<Record<string, string>>): string {
  let out = ''
  for (const key of Object.keys(tags).sort()) out += formatTag(key, tags[key] ?? '')
  return out
}

function formatTag (key: string, value: string): string {
  return value === '' ? '' : `,${escapeTag(key)}=${escapeTag(value)}`
}

function formatValue (field: PointField): string {
  if (field.type === 'string') return `"${escapeFieldString(field.value)}"`
  return formatTyped(field.type, field.value, field.key)
}

function formatTyped (type: FieldType, value: number | boolean, key: string): string {
  if (type === 'boolean') {
    if (typeof value !== 'boolean') throw new RangeError(`field ${key} is boolean, got ${typeof value}`)
    return value ? 'true' : 'false'
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`field ${key} must be a finite number`)
  if (type === 'integer') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`field ${key} is integer, got ${value}`)
    return `${value}i`
  }
  // A number without the `i` suffix is a float in line protocol, so 42 stays a float field;
  // String() may give exponent notation (1e-7), which line protocol accepts for floats.
  return String(value)
}

function formatTimestamp (tsMs: number): string {
  const ms = Math.trunc(tsMs)
  // Beyond the safe range String() would switch to exponent notation, which no timestamp accepts.
  if (!Number.isSafeInteger(ms)) throw new RangeError(`timestamp must be a finite epoch ms, got ${tsMs}`)
  return String(ms)
}
