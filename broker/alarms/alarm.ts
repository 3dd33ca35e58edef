// The alarm record crews receive (README "For maintenance crews") and what the engine
// persists. The zod schema validates alarm state read back from DATA_DIR; types flow from it.
import { z } from 'zod'

export const severitySchema = z.enum(['critical', 'major', 'minor', 'warning'])

export const alarmRecordSchema = z.object({
  id: z.string(),
  type: z.string(),
  severity: severitySchema,
  state: z.enum(['active', 'acknowledged', 'cleared']),
  deviceId: z.string(),
  kind: z.string(),
  district: z.string(),
  location: z.object({ lat: z.number(), lon: z.number() }).optional(),
  value: z.number(),
  threshold: z.number(),
  /** One human sentence. */
  message: z.string(),
  raisedAt: z.string(),
  updatedAt: z.string(),
  ackedBy: z.string().optional(),
  /** When it was acknowledged (the latest acknowledgement, after an escalation asked again); kept on the cleared record. */
  ackedAt: z.string().optional(),
  /** The note a crew sent with its acknowledgement, if any. */
  ackNote: z.string().optional(),
  clearedAt: z.string().optional(),
  /** The maintenance window covering the device when this change was made: recorded, not pushed to crews. */
  maintenance: z.string().optional(),
  /** While active and an acknowledgement deadline applies: when it falls due (ISO); the current deadline after an escalation. */
  ackDueAt: z.string().optional(),
  /** How many times it was escalated for want of an acknowledgement (1, 2, …); absent before the first. */
  escalation: z.number().int().positive().optional(),
  /** The incident this alarm joined after it opened: recorded, not pushed to crews on its own. */
  incident: z.string().optional(),
  /** Raised and cleared too often: kept open, not pushed again until it stays clear (flapping.ts). */
  flapping: z.boolean().optional(),
})

/** One alarm as published on alarms/{district}/{kind}/{deviceId}/{type}. */
export type AlarmRecord = z.infer<typeof alarmRecordSchema>

export interface AlarmDevice {
  readonly id: string
  readonly kind: string
  readonly district: string
  readonly location?: { readonly lat: number; readonly lon: number } | undefined
}

/**
 * `escalated`: its severity rose. `overdue`: still active at its acknowledgement deadline, sent
 * again with `escalation` counted up and the next `ackDueAt`. `flapping`: kept open instead of
 * clearing (flapping.ts); `unflapping`: its clear condition held for the flapping window, just
 * before the `cleared` that ends it. Neither of the two goes to crews' phones.
 */
export type AlarmChange = 'raised' | 'escalated' | 'overdue' | 'acknowledged' | 'cleared' | 'flapping' | 'unflapping'

export interface AlarmEvent {
  readonly change: AlarmChange
  readonly alarm: AlarmRecord
  /** On `raised` only: what the raise captured for its clear condition (a cluster stores it with the alarm). */
  readonly captured?: Readonly<Record<string, number>>
}

export const openAlarmSchema = z.object({
  alarm: alarmRecordSchema,
  /** Remembered at raise for the clear condition (e.g. the pressure before a drop). */
  captured: z.record(z.string(), z.number()),
})
export type OpenAlarm = z.infer<typeof openAlarmSchema>

/** What the engine remembers of a device across restarts (one line of DATA_DIR/alarm-devices.jsonl). */
export const deviceMemorySchema = z.object({
  device: z.object({ id: z.string(), kind: z.string(), district: z.string(), location: z.object({ lat: z.number(), lon: z.number() }).optional() }),
  newestTsMs: z.number().optional(),
  lastSeenMs: z.number().optional(),
})
export type DeviceMemory = z.infer<typeof deviceMemorySchema>

/** DATA_DIR/alarms.json: the open alarms only; device memory has its own file. */
export const alarmsFileSchema = z.object({ version: z.literal(2), alarms: z.array(openAlarmSchema) })

/** What the engine starts from after a restart. */
export const engineSnapshotSchema = z.object({
  alarms: z.array(openAlarmSchema),
  devices: z.array(deviceMemorySchema),
})
export type EngineSnapshot = z.infer<typeof engineSnapshotSchema>
