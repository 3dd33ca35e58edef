// The rules file's `incidents` key: when alarms of one device group become one incident. Validated
// with the rest of the rules file (rules-config.ts) and hot reloaded with it.
import { z } from 'zod'

export const incidentRulesSchema = z.strictObject({
  /** false: every alarm goes to crews on its own. */
  enabled: z.boolean().optional(),
  /** Devices of one group raising the same alarm type within the window that make an incident. */
  minDevices: z.number().int().min(2).max(100_000).optional(),
  /** Or this share of the group's registered devices, when that is fewer (never fewer than 2 devices). */
  groupShare: z.number().gt(0).max(1).optional(),
  /** The window, seconds. */
  windowSec: z.number().positive().max(86_400).optional(),
})
export type IncidentRulesFile = z.infer<typeof incidentRulesSchema>

export interface IncidentRules {
  readonly enabled: boolean
  readonly minDevices: number
  readonly groupShare: number
  readonly windowMs: number
}

export const DEFAULT_INCIDENT_RULES: IncidentRules = { enabled: true, minDevices: 5, groupShare: 0.3, windowMs: 120_000 }

export function incidentRulesOf (file: IncidentRulesFile | undefined): IncidentRules {
  return {
    enabled: file?.enabled ?? DEFAULT_INCIDENT_RULES.enabled,
    minDevices: file?.minDevices ?? DEFAULT_INCIDENT_RULES.minDevices,
    groupShare: file?.groupShare ?? DEFAULT_INCIDENT_RULES.groupShare,
    windowMs: file?.windowSec === undefined ? DEFAULT_INCIDENT_RULES.windowMs : file.windowSec * 1000,
  }
}

/** Devices needed for an incident in a group of `groupSize` registered devices: min(N, share), at least 2. */
export function incidentThreshold (rules: IncidentRules, groupSize: number): number {
  return Math.max(2, Math.min(rules.minDevices, Math.ceil(rules.groupShare * groupSize)))
}
