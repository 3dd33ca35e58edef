// What a crew reads on a phone: a short subject and a plain-text body saying what happened, where
// (with a map link), since when and how to acknowledge. Pure functions of the request.
import { formatAlarmTopic } from '../../mqtt/topics.ts'
import type { AlarmRecord } from '../alarm.ts'

/** An incident as the mail needs it: one alarm type across the devices of a group. */
export interface MailIncident {
  readonly id: string
  readonly type: string
  readonly group: string
  readonly district: string
  readonly severity: AlarmRecord['severity']
  readonly members: readonly { readonly deviceId: string; readonly alarmId: string }[]
  readonly openedAt: string
  /** Where a crew acknowledges it over MQTT, if it can. */
  readonly ackTopic?: string | undefined
}

/**
 * Who gets a mail: by default the recipients the rules file names for the district and severity;
 * `to` replaces them (an empty list mails no one), `extra` adds to them (escalation recipients).
 */
export interface MailAddressing {
  readonly to?: readonly string[] | undefined
  readonly extra?: readonly string[] | undefined
}

/** What to mail. */
export type MailRequest = MailAddressing & (
  | { readonly kind: 'raised'; readonly alarm: AlarmRecord }
  | { readonly kind: 'escalation'; readonly alarm: AlarmRecord; readonly escalation: number; readonly ackDueAt?: string | undefined }
  | { readonly kind: 'incident'; readonly incident: MailIncident }
)

export interface MailLinks {
  /** The crew console's address, if known (CONSOLE_URL). */
  consoleUrl?: string | undefined
  /** Web map URL template with {lat} and {lon} (MAP_NAV_URL). */
  mapNavUrl: string
}

export interface ComposedMail {
  subject: string
  text: string
}

/** Members an incident mail lists by name; the rest are counted. */
const LISTED_MEMBERS = 30

/** `coverOpen` → "Cover open". */
export function humanizeType (type: string): string {
  const words = type.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/-/g, ' ').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** `2026-12-01T01:07:24.123Z` → `2026-12-01 01:07:24 UTC`; anything else as it is. */
function readableTime (iso: string): string {
  const ms = Date.parse(iso)
  return Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC` : iso
}

/** Header text never carries a line break, whatever a name holds. */
function oneLine (text: string): string {
  return text.replace(/[\r\n]+/g, ' ')
}

function consoleLink (links: MailLinks): string | undefined {
  return links.consoleUrl === undefined ? undefined : new URL('#/', links.consoleUrl).href
}

function whereLines (alarm: AlarmRecord, links: MailLinks): string[] {
  const lines = [`Device: ${alarm.deviceId} (${alarm.kind})`, `District: ${alarm.district}`]
  const place = alarm.location
  if (place === undefined) return [...lines, 'Position: not registered']
  const lat = place.lat.toFixed(6)
  const lon = place.lon.toFixed(6)
  return [
    ...lines,
    `Position: ${lat}, ${lon}`,
    `Navigate: geo:${lat},${lon}`,
    `Web map: ${links.mapNavUrl.replaceAll('{lat}', lat).replaceAll('{lon}', lon)}`,
  ]
}

function ackLines (ackTopic: string | undefined, links: MailLinks): string[] {
  const lines = ['To acknowledge:']
  const url = consoleLink(links)
  if (url !== undefined) lines.push(`- in the console: ${url}`)
  if (ackTopic !== undefined) lines.push(`- or over MQTT: publish {"note":"…"} to ${ackTopic}`)
  if (lines.length === 1) lines.push('- in the crew console')
  return lines
}

function alarmMail (alarm: AlarmRecord, links: MailLinks, heading: string, extra: string[]): ComposedMail {
  const what = humanizeType(alarm.type)
  return {
    subject: oneLine(`[${alarm.severity}] ${heading}${what} — ${alarm.deviceId} (${alarm.district})`),
    text: [
      `${what} — ${alarm.severity}`,
      alarm.message,
      ...extra,
      '',
      ...whereLines(alarm, links),
      '',
      `Since: ${readableTime(alarm.raisedAt)}`,
      `Value: ${alarm.value} (threshold ${alarm.threshold})`,
      `State: ${alarm.state}${alarm.ackedBy === undefined ? '' : `, acknowledged by ${alarm.ackedBy}`}`,
      '',
      ...ackLines(`${formatAlarmTopic(alarm)}/ack`, links),
      '',
      `Alarm id: ${alarm.id}`,
      '',
    ].join('\n'),
  }
}

function incidentMail (incident: MailIncident, links: MailLinks): ComposedMail {
  const what = humanizeType(incident.type)
  const count = incident.members.length
  const listed = incident.members.slice(0, LISTED_MEMBERS).map(function memberLine (m) { return `- ${m.deviceId} (alarm ${m.alarmId})` })
  if (count > LISTED_MEMBERS) listed.push(`- … and ${count - LISTED_MEMBERS} more`)
  return {
    subject: oneLine(`[${incident.severity}] Incident: ${what} — ${count} devices of ${incident.group} (${incident.district})`),
    text: [
      `Incident: ${what} — ${incident.severity}`,
      `${count} devices of group ${incident.group} in district ${incident.district} report ${what.toLowerCase()}.`,
      '',
      `Since: ${readableTime(incident.openedAt)}`,
      'Devices:',
      ...listed,
      '',
      ...ackLines(incident.ackTopic, links),
      '',
      `Incident id: ${incident.id}`,
      '',
    ].join('\n'),
  }
}

export function composeMail (request: MailRequest, links: MailLinks): ComposedMail {
  switch (request.kind) {
    case 'raised': return alarmMail(request.alarm, links, '', [])
    case 'escalation': {
      const due = request.ackDueAt === undefined ? '' : ` (acknowledgement was due at ${readableTime(request.ackDueAt)})`
      return alarmMail(request.alarm, links, `Not acknowledged (${request.escalation}): `, [`Escalation ${request.escalation}: still not acknowledged${due}.`])
    }
    case 'incident': return incidentMail(request.incident, links)
  }
}
