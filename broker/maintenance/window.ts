// A maintenance window: while it runs, the alarms of the devices it covers are recorded but not
// pushed to crews (broker/maintenance/gate.ts). It covers one device, one district or one device
// group (the registry's optional `group` of a device). The same record lives in
// DATA_DIR/maintenance.json and in the cluster's maintenance bucket.
import { z } from 'zod'
import { newCliSafeId } from '../random-id.ts'
import { idSchema } from '../registry/schema.ts'

export const MAINTENANCE_REASON_MAX = 200
/** Longest window accepted: work on a street is planned in days, not years. */
export const MAINTENANCE_MAX_DAYS = 90

export const maintenanceIdSchema = z.string().regex(/^[A-Za-z0-9_-]{12}$/, 'a maintenance id is 12 characters of A-Z a-z 0-9 _ -')

export const maintenanceScopeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('device'), name: idSchema }),
  z.object({ kind: z.literal('district'), name: idSchema }),
  z.object({ kind: z.literal('group'), name: idSchema }),
])
export type MaintenanceScope = z.infer<typeof maintenanceScopeSchema>

export const maintenanceWindowSchema = z.object({
  id: maintenanceIdSchema,
  scope: maintenanceScopeSchema,
  /** ISO-8601 times; the window runs while from <= now < to. */
  from: z.string().datetime(),
  to: z.string().datetime(),
  reason: z.string().min(1).max(MAINTENANCE_REASON_MAX),
  /** `cli`, or the name of the API account that added it. */
  createdBy: z.string().min(1).max(64),
  createdAt: z.string().datetime(),
  /** Set when it was ended before its planned end (then `to` is that time, before `from` for one cancelled before it started). */
  endedBy: z.string().min(1).max(64).optional(),
}).refine(function ordered (w) { return w.endedBy !== undefined || Date.parse(w.to) > Date.parse(w.from) }, { message: '`to` must be after `from`', path: ['to'] })
export type MaintenanceWindow = z.infer<typeof maintenanceWindowSchema>

export function newMaintenanceId (): string {
  return newCliSafeId(9)
}

/** What a device is, as far as windows care: a group only once the registry has one for it. */
export interface CoveredDevice {
  readonly id: string
  readonly district: string
  readonly group?: string | undefined
}

export function covers (window: MaintenanceWindow, device: CoveredDevice): boolean {
  const { scope } = window
  if (scope.kind === 'device') return scope.name === device.id
  if (scope.kind === 'district') return scope.name === device.district
  return device.group !== undefined && scope.name === device.group
}

export function isRunning (window: MaintenanceWindow, nowMs: number): boolean {
  return Date.parse(window.from) <= nowMs && nowMs < Date.parse(window.to)
}

/** Running or still to come. */
export function isCurrent (window: MaintenanceWindow, nowMs: number): boolean {
  return nowMs < Date.parse(window.to)
}

/** How a window is named in text: `device mh-1`, `district north`, `group feeder-12`. */
export function describeScope (scope: MaintenanceScope): string {
  return `${scope.kind} ${scope.name}`
}
