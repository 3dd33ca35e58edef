// The types of the API's answers, derived from the JSON schemas fastify serialises them with
// (schemas.ts), so they cannot drift from /api/openapi.json. Types only: the console imports
// this file with `import type`, and nothing of it reaches a bundle.
import type { FromSchema, JSONSchema } from 'json-schema-to-ts'
import type { AlarmRecord } from '../alarms/alarm.ts'
import type { alarmHistorySchema, alarmListSchema, alarmStatsSchema, alarmTimelineSchema, consoleSettingsSchema, deviceDetailSchema, deviceListSchema, deviceSchema, errorSchema, historyEntrySchema, principalSchema, seriesSchema, timelineEventSchema } from './schemas.ts'

/**
 * The schemas leave `additionalProperties` open, so FromSchema adds `[x: string]: unknown` to
 * every object; but fastify's serialiser writes only the listed properties, so an answer never
 * has more. Dropping those index signatures keeps a misspelt property a compile error. A real
 * map (`additionalProperties: <schema>`, e.g. a device's `latest`) keeps its index signature.
 */
type Closed<T> =
  T extends readonly (infer Item)[] ? Closed<Item>[]
    : T extends object ? { [K in keyof T as string extends K ? (unknown extends T[K] ? never : K) : K]: Closed<T[K]> }
      : T

/**
 * `$ref: 'Alarm#'` resolves to the zod type the alarm schema is generated from: that schema is
 * built when the module loads, so the compiler knows no literal type for it. The stand-in below
 * is only a marker for the `deserialize` rule.
 */
interface Options {
  references: [typeof deviceSchema, { $id: 'Alarm'; title: 'AlarmRecord' }, typeof historyEntrySchema, typeof timelineEventSchema]
  deserialize: [{ pattern: { title: 'AlarmRecord' }; output: AlarmRecord }]
}

/** The type of a value that validates against the (`as const`) response schema `S`. */
export type ApiType<S extends JSONSchema> = Closed<FromSchema<S, Options>>

export type Alarm = AlarmRecord
/** GET /api/incidents items (the zod type its schema is generated from, like Alarm). */
export type { Incident } from '../alarms/incidents.ts'
export type Principal = ApiType<typeof principalSchema>
export type Device = ApiType<typeof deviceSchema>
export type DeviceDetail = ApiType<typeof deviceDetailSchema>
export type Series = ApiType<typeof seriesSchema>
export type ErrorBody = ApiType<typeof errorSchema>
export type AlarmList = ApiType<typeof alarmListSchema>
export type DeviceList = ApiType<typeof deviceListSchema>
export type HistoryEntry = ApiType<typeof historyEntrySchema>
export type TimelineEvent = ApiType<typeof timelineEventSchema>
export type AlarmHistory = ApiType<typeof alarmHistorySchema>
export type AlarmTimeline = ApiType<typeof alarmTimelineSchema>
export type ConsoleSettings = ApiType<typeof consoleSettingsSchema>
export type AlarmStats = ApiType<typeof alarmStatsSchema>
export type StatsGroup = AlarmStats['groups'][number]
