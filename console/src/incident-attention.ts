// Attention for incidents: a member alarm of an incident the console has not seen yet means a new
// incident; it is read from GET /api/incidents and, when critical, raised like a critical alarm
// (sound, vibration, notification). Member alarms themselves do not sound: the incident stands for them.
import { apiGet, type Alarm, type Incident } from './api.ts'
import { raiseAlert } from './attention.ts'
import { humanize } from './dom.ts'
import { announce } from './live-region.ts'

export interface IncidentAttention {
  /** Incidents of alarms already open at sign-in are not news. */
  know(alarms: readonly Alarm[]): void
  /** A change of an incident's member alarm: true when it was one (the caller does not sound for it). */
  onMemberAlarm(change: string, alarm: Alarm): boolean
  /** A new sign-in: nothing is known. */
  reset(): void
}

export function createIncidentAttention (): IncidentAttention {
  let known = new Set<string>()

  async function tellIncident (incidentId: string): Promise<void> {
    const { incidents } = await apiGet<{ incidents: Incident[] }>('/api/incidents?state=open')
    const incident = incidents.find(function byId (i) { return i.id === incidentId })
    if (incident === undefined) return
    const what = `${humanize(incident.type)}: ${incident.members.length} devices of ${incident.group}, ${incident.district}`
    announce(`New ${incident.severity} incident: ${what}`)
    if (incident.severity === 'critical') raiseAlert({ title: `Critical incident: ${humanize(incident.type)}`, body: what, tag: incident.id })
  }

  return {
    know (alarms) {
      for (const alarm of alarms) if (alarm.incident !== undefined) known.add(alarm.incident)
    },
    onMemberAlarm (change, alarm) {
      if (alarm.incident === undefined) return false
      if (change === 'raised' && !known.has(alarm.incident)) {
        known.add(alarm.incident)
        tellIncident(alarm.incident).catch(function notRead () { /* the incident card still shows it on its next read */ })
      }
      return true
    },
    reset () { known = new Set() },
  }
}
