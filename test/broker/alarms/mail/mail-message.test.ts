import { describe, expect, it } from 'vitest'
import type { AlarmRecord } from '../../../../broker/alarms/alarm.ts'
import { composeMail } from '../../../../broker/alarms/mail/mail-message.ts'

const alarm: AlarmRecord = {
  id: 'a-1', type: 'lowPressure', severity: 'critical', state: 'active', deviceId: 'wp-7', kind: 'water-pipe', district: 'harbour',
  location: { lat: 52.1, lon: 4.3 }, value: 120, threshold: 138, message: 'Pressure is 120 kPa, below the critical threshold of 138 kPa.',
  raisedAt: '2026-12-01T01:00:00.000Z', updatedAt: '2026-12-01T01:00:00.000Z',
}
const links = { mapNavUrl: 'https://maps.city.example/?at={lat},{lon}' }

describe('composed mail', () => {
  it('an escalation says how many times and since when it waits for an acknowledgement', () => {
    const mail = composeMail({ kind: 'escalation', alarm, escalation: 2, ackDueAt: '2026-12-01T01:10:00.000Z' }, links)
    expect(mail.subject).toBe('[critical] Not acknowledged (2): Low pressure — wp-7 (harbour)')
    expect(mail.text).toContain('Escalation 2: still not acknowledged (acknowledgement was due at 2026-12-01 01:10:00 UTC).')
    expect(mail.text).toContain('Since: 2026-12-01 01:00:00 UTC')
    expect(mail.text).toContain('Web map: https://maps.city.example/?at=52.100000,4.300000')
    // Without CONSOLE_URL, the MQTT acknowledgement alone.
    expect(mail.text).not.toContain('in the console')
    expect(mail.text).toContain('- or over MQTT: publish {"note":"…"} to alarms/harbour/water-pipe/wp-7/lowPressure/ack')
  })

  it('an incident names its group and lists its members, at most 30 by name', () => {
    const members = Array.from({ length: 32 }, (_, i) => ({ deviceId: `lp-${i + 1}`, alarmId: `al-${i + 1}` }))
    const mail = composeMail({
      kind: 'incident',
      incident: { id: 'inc-1', type: 'supplyLoss', group: 'feeder-12', district: 'north', severity: 'major', members, openedAt: '2026-12-01T01:00:00.000Z' },
    }, { ...links, consoleUrl: 'https://gw.city.example/console' })
    expect(mail.subject).toBe('[major] Incident: Supply loss — 32 devices of feeder-12 (north)')
    expect(mail.text).toContain('- lp-30 (alarm al-30)')
    expect(mail.text).not.toContain('- lp-31 ')
    expect(mail.text).toContain('- … and 2 more')
    expect(mail.text).toContain('- in the console: https://gw.city.example/console#/')
    expect(mail.text).toContain('Incident id: inc-1')
  })

  it('keeps line breaks out of the subject', () => {
    const mail = composeMail({ kind: 'incident', incident: { id: 'i', type: 'x', group: 'g\r\nBcc: evil@example.com', district: 'd', severity: 'minor', members: [], openedAt: 'now' } }, links)
    expect(mail.subject).not.toMatch(/[\r\n]/)
  })
})
