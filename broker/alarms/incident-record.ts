// An incident as crews, the API, the CLI and DATA_DIR/incidents.json see it; the zod schema
// validates what is read back from disk, and types flow from it.
import { z } from 'zod'
import { severitySchema } from './alarm.ts'

export const incidentSchema = z.object({
  id: z.string(),
  /** The members' alarm type; `supplyLoss` for the family of supplyLoss and deviceOffline. */
  type: z.string(),
  group: z.string(),
  district: z.string(),
  /** The highest of its members'. */
  severity: severitySchema,
  members: z.array(z.object({ deviceId: z.string(), alarmId: z.string() })),
  openedAt: z.string(),
  updatedAt: z.string(),
  closedAt: z.string().optional(),
  state: z.enum(['open', 'acknowledged', 'closed']),
  ackedBy: z.string().optional(),
})
/** One incident as published on incidents/{district}/{id}. */
export type Incident = z.infer<typeof incidentSchema>

/** An open incident as kept on disk or in the cluster's bucket: with the ids of its members that have cleared. */
export const storedIncidentSchema = z.object({ incident: incidentSchema, cleared: z.array(z.string()) })
export type StoredIncident = z.infer<typeof storedIncidentSchema>
