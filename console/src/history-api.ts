// The alarm history API: recent alarms of the caller's districts (GET /api/alarms/history) and one
// alarm's timeline (GET /api/alarms/{id}/timeline). Types declared here as the API documents them.
import { ApiError, type Location, type Severity } from './api.ts'

export type AlarmState = 'active' | 'acknowledged' | 'cleared'

export interface HistoryEntry {
  id: string
  type: string
  severity: Severity
  deviceId: string
  kind: string
  district: string
  location?: Location
  message: string
  state: AlarmState
  raisedAt: string
  ackedAt?: string
  ackedBy?: string
  ackNote?: string
  clearedAt?: string
  timeToAckSec?: number
  timeToClearSec?: number
  /** How many times its severity rose while it was open. */
  escalations: number
}

export interface AlarmHistory {
  /** Newest raise first. */
  alarms: HistoryEntry[]
  partial?: true
  warning?: string
}

export type TimelineChange = 'raised' | 'escalated' | 'acknowledged' | 'cleared'

export interface TimelineEvent {
  change: TimelineChange
  at: string
  severity: Severity
  state: AlarmState
  message: string
  value?: number
  threshold?: number
  by?: string
  note?: string
}

export interface AlarmTimeline {
  alarm: HistoryEntry
  /** Chronological. */
  events: TimelineEvent[]
}

export interface HistoryQuery { district?: string; deviceId?: string; hours: number; limit?: number }

async function getJson<T> (path: string): Promise<T> {
  const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } })
  const data = await res.json().catch(function notJson () { return {} }) as { message?: string }
  if (!res.ok) throw new ApiError(res.status, data.message ?? res.statusText)
  return data as T
}

export function alarmHistory (query: HistoryQuery): Promise<AlarmHistory> {
  const params = new URLSearchParams({ hours: String(query.hours) })
  if (query.district !== undefined && query.district !== '') params.set('district', query.district)
  if (query.deviceId !== undefined) params.set('deviceId', query.deviceId)
  if (query.limit !== undefined) params.set('limit', String(query.limit))
  return getJson<AlarmHistory>(`/api/alarms/history?${params.toString()}`)
}

export function alarmTimeline (id: string): Promise<AlarmTimeline> {
  return getJson<AlarmTimeline>(`/api/alarms/${encodeURIComponent(id)}/timeline`)
}

/** The gateway has no such route (an older gateway): fastify's own 404, not an unknown alarm. */
export function isMissingRoute (err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && /^Route /.test(err.message)
}
