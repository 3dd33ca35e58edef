// JSON Schemas of the API's requests and responses: fastify compiles them once at start-up to
// validate input (400 with a reason) and serialise output, and @fastify/swagger publishes them
// as /api/openapi.json. Shapes follow the alarm record crews receive over MQTT (alarms/alarm.ts) and the registry.
import { z } from 'zod'
import { alarmRecordSchema } from '../alarms/alarm.ts'
import { incidentSchema } from '../alarms/incidents.ts'

export const nameSchema = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } as const
export const severityEnum = ['critical', 'major', 'minor', 'warning'] as const
export const stateEnum = ['active', 'acknowledged', 'cleared'] as const

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every 4xx/5xx answer: the HTTP status, its name, and why.',
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } },
  required: ['statusCode', 'error', 'message'],
} as const

const locationSchema = {
  type: 'object',
  properties: { lat: { type: 'number' }, lon: { type: 'number' } },
  required: ['lat', 'lon'],
} as const

export const principalSchema = {
  $id: 'Principal',
  type: 'object',
  properties: {
    name: { type: 'string' },
    role: { type: 'string', enum: ['crew', 'operator'] },
    districts: { type: 'array', items: { type: 'string' }, nullable: true, description: 'null = every district' },
    expiresAt: { type: 'string', format: 'date-time', description: 'when the session ends (absent with HTTP Basic)' },
    trustedDevice: { type: 'boolean', description: 'this browser holds a valid trusted-device cookie of the account: it can sign in again with POST /api/session/resume' },
  },
  required: ['name', 'role', 'districts', 'trustedDevice'],
} as const

/** The alarm message, generated from the zod schema crews' MQTT messages are typed by (one source). */
export const alarmSchema = (function alarmJsonSchema () {
  const { $schema: _draft, ...schema } = z.toJSONSchema(alarmRecordSchema, { target: 'draft-7', io: 'output' })
  return { $id: 'Alarm', ...schema }
})()

const latestValueSchema = {
  type: 'object',
  properties: { value: { type: ['number', 'boolean'] }, ts: { type: 'string', format: 'date-time' } },
  required: ['value', 'ts'],
} as const

const deviceProperties = {
  id: { type: 'string' },
  kind: { type: 'string' },
  district: { type: 'string' },
  location: locationSchema,
  group: { type: 'string', description: 'what it hangs on with other devices (feeder, cabinet, pressure zone, sewer section)' },
  online: { type: 'boolean', description: 'has an open MQTT connection now' },
  lastSeen: { type: 'string', format: 'date-time', nullable: true, description: 'last accepted reading since the gateway started' },
  latest: { type: 'object', additionalProperties: latestValueSchema, description: 'latest value per field' },
  openAlarms: { type: 'integer', description: 'alarms not cleared; absent for consumers (alarms are not shared with them)' },
} as const
const deviceRequired = ['id', 'kind', 'district', 'online', 'lastSeen', 'latest'] as const

export const deviceSchema = { $id: 'Device', type: 'object', properties: deviceProperties, required: deviceRequired } as const

/** One field of a kind as the API describes it (DeviceDetail, GET /api/kinds). */
const fieldInfoSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    label: { type: 'string', description: 'how people write the field (pH, H₂S): the kind\'s label, else its name spelt out' },
    type: { type: 'string', enum: ['integer', 'float', 'boolean'] },
    unit: { type: 'string', description: 'absent or "1" = a plain number' },
    description: { type: 'string' },
  },
  required: ['name', 'label', 'type'],
} as const

export const deviceDetailSchema = {
  $id: 'DeviceDetail',
  type: 'object',
  properties: {
    ...deviceProperties,
    fields: { type: 'array', description: 'the kind\'s fields, in order, with units (a consumer: those of its scope)', items: fieldInfoSchema },
  },
  required: [...deviceRequired, 'fields'],
} as const

export const seriesSchema = {
  $id: 'Series',
  type: 'object',
  properties: {
    deviceId: { type: 'string' },
    field: { type: 'string' },
    minutes: { type: 'integer' },
    bucketSec: { type: 'integer', description: 'values are averaged over buckets of this many seconds' },
    points: { type: 'array', items: { type: 'object', properties: { t: { type: 'integer', description: 'epoch ms' }, v: { type: 'number' } }, required: ['t', 'v'] } },
  },
  required: ['deviceId', 'field', 'minutes', 'bucketSec', 'points'],
} as const

/** GET /api/console/settings: what the console needs to draw its map and navigate links. */
export const consoleSettingsSchema = {
  $id: 'ConsoleSettings',
  type: 'object',
  properties: {
    mapTileUrl: { type: 'string', nullable: true, description: 'tile URL template ({z}/{x}/{y}); null = draw the offline map' },
    mapAttribution: { type: 'string', nullable: true, description: 'shown with the tiles' },
    mapsUrl: { type: 'string', description: 'web map URL template with {lat} and {lon}' },
  },
  required: ['mapTileUrl', 'mapAttribution', 'mapsUrl'],
} as const

/** GET /api/alarms: inline (no $id), so the OpenAPI document shows it under the route. */
export const alarmListSchema = { type: 'object', properties: { alarms: { type: 'array', items: { $ref: 'Alarm#' } } }, required: ['alarms'] } as const

/** GET /api/kinds: inline. */
export const kindListSchema = {
  type: 'object',
  properties: {
    kinds: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, fields: { type: 'array', items: fieldInfoSchema } }, required: ['name', 'fields'] },
    },
  },
  required: ['kinds'],
} as const

/** GET /api/devices: inline, like the alarm list. */
export const deviceListSchema = { type: 'object', properties: { devices: { type: 'array', items: { $ref: 'Device#' } } }, required: ['devices'] } as const

/**
 * `escalated`: severity rose; `overdue`: escalated for want of an acknowledgement by its deadline;
 * `flapping`: kept open instead of clearing; `unflapping`: quiet for the flapping window, then cleared.
 */
const changeEnum = ['raised', 'escalated', 'overdue', 'acknowledged', 'cleared', 'flapping', 'unflapping'] as const

/** One alarm's history: its record as far as it is known, and the times that matter to crews. */
export const historyEntrySchema = {
  $id: 'HistoryEntry',
  type: 'object',
  properties: {
    id: { type: 'string' },
    type: { type: 'string' },
    severity: { type: 'string', enum: severityEnum, description: 'the highest it reached' },
    deviceId: { type: 'string' },
    kind: { type: 'string' },
    district: { type: 'string' },
    location: { ...locationSchema, description: 'the device\'s, from the registry' },
    message: { type: 'string', description: 'the latest' },
    state: { type: 'string', enum: stateEnum, description: 'the latest' },
    raisedAt: { type: 'string', format: 'date-time' },
    ackedAt: { type: 'string', format: 'date-time', description: 'the latest acknowledgement' },
    ackedBy: { type: 'string' },
    ackNote: { type: 'string' },
    clearedAt: { type: 'string', format: 'date-time' },
    timeToAckSec: { type: 'number', description: 'seconds from raise to (the latest) acknowledgement' },
    timeToClearSec: { type: 'number', description: 'seconds from raise to clear' },
    escalations: { type: 'integer', description: 'how often its severity went up while it was open' },
    ackEscalations: { type: 'integer', description: 'how often it was escalated for want of an acknowledgement by its deadline (absent: never)' },
  },
  required: ['id', 'type', 'severity', 'deviceId', 'kind', 'district', 'message', 'state', 'raisedAt', 'escalations'],
} as const

/** One change of one alarm. */
export const timelineEventSchema = {
  $id: 'TimelineEvent',
  type: 'object',
  properties: {
    change: { type: 'string', enum: changeEnum },
    at: { type: 'string', format: 'date-time' },
    severity: { type: 'string', enum: severityEnum },
    state: { type: 'string', enum: stateEnum, description: 'the state the change left the alarm in' },
    message: { type: 'string', description: 'empty when only the time of the change is known (kept in memory as a time only, not stored in InfluxDB)' },
    value: { type: 'number' },
    threshold: { type: 'number' },
    by: { type: 'string', description: 'acknowledged: who' },
    note: { type: 'string', description: 'acknowledged: the note' },
    escalation: { type: 'integer', description: 'overdue: the escalation step (1, 2, …)' },
  },
  required: ['change', 'at', 'severity', 'state', 'message'],
} as const

const partialProperties = {
  partial: { type: 'boolean', enum: [true], description: 'only what the gateway holds in memory: InfluxDB is not set or did not answer' },
  warning: { type: 'string', description: 'why the answer is partial' },
} as const

/** GET /api/alarms/history: inline, like the alarm list. */
export const alarmHistorySchema = {
  type: 'object',
  properties: { alarms: { type: 'array', items: { $ref: 'HistoryEntry#' } }, ...partialProperties },
  required: ['alarms'],
} as const

/** GET /api/alarms/{id}/timeline: inline. */
export const alarmTimelineSchema = {
  type: 'object',
  properties: { alarm: { $ref: 'HistoryEntry#' }, events: { type: 'array', items: { $ref: 'TimelineEvent#' } }, ...partialProperties },
  required: ['alarm', 'events'],
} as const

/** A maintenance window (broker/maintenance/window.ts) with whether it runs now. */
export const maintenanceWindowJsonSchema = {
  $id: 'MaintenanceWindow',
  type: 'object',
  properties: {
    id: { type: 'string' },
    scope: {
      type: 'object',
      properties: { kind: { type: 'string', enum: ['device', 'district', 'group'] }, name: { type: 'string' } },
      required: ['kind', 'name'],
      description: 'what it covers: one device, every device of a district, or every device of a group',
    },
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time', description: 'the window runs while from <= now < to' },
    reason: { type: 'string' },
    createdBy: { type: 'string', description: '`cli` or the API account that added it' },
    createdAt: { type: 'string', format: 'date-time' },
    endedBy: { type: 'string', description: 'who ended it before its planned end' },
    status: { type: 'string', enum: ['running', 'upcoming', 'ended'] },
  },
  required: ['id', 'scope', 'from', 'to', 'reason', 'createdBy', 'createdAt', 'status'],
} as const

/** POST /api/maintenance: exactly one of device, district, group. */
export const maintenanceDraftJsonSchema = {
  type: 'object',
  properties: {
    device: { ...nameSchema, description: 'one device' },
    district: { ...nameSchema, description: 'every device of a district' },
    group: { ...nameSchema, description: 'every device of a group (operators, and crews of every district)' },
    from: { type: 'string', minLength: 1, maxLength: 40, description: '`now` (default), `+30m`/`+2h`/`+1d` from now, or an ISO-8601 time with a zone' },
    to: { type: 'string', minLength: 1, maxLength: 40, description: '`+2h` etc. from `from`, or an ISO-8601 time with a zone' },
    reason: { type: 'string', minLength: 1, maxLength: 200 },
  },
  required: ['to', 'reason'],
  additionalProperties: false,
} as const

/** An incident as published on incidents/{district}/{id} (from the same zod schema). */
export const incidentJsonSchema = (function incidentJson () {
  const { $schema: _draft, ...schema } = z.toJSONSchema(incidentSchema, { target: 'draft-7', io: 'output' })
  return { $id: 'Incident', ...schema }
})()

export const sharedSchemas = [errorSchema, principalSchema, alarmSchema, incidentJsonSchema, deviceSchema, deviceDetailSchema, seriesSchema, historyEntrySchema, timelineEventSchema, consoleSettingsSchema, maintenanceWindowJsonSchema]

/** GET /api/alarms/stats: inline. Durations in seconds; a median or 90th percentile is absent when nothing was acknowledged (cleared) in the range. */
export const alarmStatsSchema = {
  type: 'object',
  properties: {
    from: { type: 'string', format: 'date-time' },
    to: { type: 'string', format: 'date-time' },
    groups: {
      type: 'array',
      items: {
        type: 'object',
        description: 'one district and alarm type: what changed within the range',
        properties: {
          district: { type: 'string' },
          type: { type: 'string' },
          count: { type: 'integer', description: 'alarms raised' },
          acknowledged: { type: 'integer', description: 'alarms acknowledged (the first acknowledgement of each)' },
          medianAckSec: { type: 'number', description: 'median time from raise to first acknowledgement' },
          p90AckSec: { type: 'number', description: '90th percentile of the same' },
          cleared: { type: 'integer', description: 'alarms cleared' },
          medianClearSec: { type: 'number', description: 'median time from raise to clear' },
          p90ClearSec: { type: 'number', description: '90th percentile of the same' },
          escalations: { type: 'integer', description: 'escalation steps for want of an acknowledgement (changes `overdue`)' },
        },
        required: ['district', 'type', 'count', 'acknowledged', 'cleared', 'escalations'],
      },
    },
    ...partialProperties,
  },
  required: ['from', 'to', 'groups'],
} as const

/** `{ 401: Error, … }` for a route's response map. */
export function errors (...codes: number[]): Record<number, { $ref: 'Error#' }> {
  return Object.fromEntries(codes.map(function toRef (code) { return [code, { $ref: 'Error#' as const }] }))
}
