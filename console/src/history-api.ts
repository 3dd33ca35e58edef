// The alarm history API: recent alarms of the caller's districts (GET /api/alarms/history) and one
// alarm's timeline (GET /api/alarms/{id}/timeline). Types come from the API's schemas.
import { apiGet, ApiError } from './api.ts'
import type { AlarmHistory, AlarmStats, AlarmTimeline } from './api-types.ts'

export type { AlarmHistory, AlarmStats, AlarmTimeline, HistoryEntry, TimelineEvent } from './api-types.ts'

export interface HistoryQuery { district?: string; deviceId?: string; hours: number; limit?: number }

export function alarmHistory (query: HistoryQuery): Promise<AlarmHistory> {
  const params = new URLSearchParams({ hours: String(query.hours) })
  if (query.district !== undefined && query.district !== '') params.set('district', query.district)
  if (query.deviceId !== undefined) params.set('deviceId', query.deviceId)
  if (query.limit !== undefined) params.set('limit', String(query.limit))
  return apiGet<AlarmHistory>(`/api/alarms/history?${params.toString()}`)
}

/** GET /api/alarms/stats over the last `hours`. */
export function alarmStats (query: { hours: number; district?: string }): Promise<AlarmStats> {
  const params = new URLSearchParams({ from: new Date(Date.now() - query.hours * 3_600_000).toISOString() })
  if (query.district !== undefined && query.district !== '') params.set('district', query.district)
  return apiGet<AlarmStats>(`/api/alarms/stats?${params.toString()}`)
}

export function alarmTimeline (id: string): Promise<AlarmTimeline> {
  return apiGet<AlarmTimeline>(`/api/alarms/${encodeURIComponent(id)}/timeline`)
}

/** The gateway has no such route (an older gateway): fastify's own 404, not an unknown alarm. */
export function isMissingRoute (err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && /^Route /.test(err.message)
}
