// enqueueMail, the entry point escalations and incidents use, against a real SMTP server
// (python3-aiosmtpd) with the queue in a temp dir.
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AlarmRecord } from '../../../../broker/alarms/alarm.ts'
import { startMailChannel, type MailChannel } from '../../../../broker/alarms/mail/mail-channel.ts'
import { parseRulesFile } from '../../../../broker/alarms/rules-config.ts'
import { DEFAULT_MAP_NAV_URL } from '../../../../broker/config.ts'
import { makeTempDir, removeTempDir } from '../../../helpers/server-process.ts'
import { startSmtpServer, type SmtpServer } from '../../../helpers/smtp.ts'
import { eventually } from '../../../helpers/wait.ts'

const rules = parseRulesFile('mail:\n  districts:\n    north: { critical: [north-crew@city.example] }\n', 'rules.yaml').mail
const alarm: AlarmRecord = {
  id: 'al-1', type: 'coverOpen', severity: 'critical', state: 'active', deviceId: 'mh-1', kind: 'manhole', district: 'north',
  value: 120, threshold: 90, message: 'Cover is open.', raisedAt: '2026-12-01T01:00:00.000Z', updatedAt: '2026-12-01T01:00:00.000Z',
}

describe('enqueueMail', () => {
  let smtp: SmtpServer
  let dataDir: string
  let mail: MailChannel

  beforeAll(async () => {
    smtp = await startSmtpServer()
    dataDir = await makeTempDir('citygw-mail-channel-')
    mail = await startMailChannel({
      dataDir, smtpUrl: smtp.url, from: 'alarms@city.example', timeoutMs: 5000, retryBaseMs: 100, retryMaxMs: 1000, maxQueued: 100,
      mapNavUrl: DEFAULT_MAP_NAV_URL, rules: () => rules, log: pino({ level: 'silent' }),
    })
  })
  afterAll(async () => {
    await mail?.close()
    await smtp?.close()
    if (dataDir !== undefined) await removeTempDir(dataDir)
  })

  it('mails an escalation to the district\'s recipients plus extra ones, an incident to `to` only, and nothing to an empty `to`', async () => {
    await mail.enqueueMail({ kind: 'escalation', alarm, escalation: 1, ackDueAt: '2026-12-01T01:05:00.000Z', extra: ['supervisor@city.example', 'north-crew@city.example'] })
    await mail.enqueueMail({ kind: 'raised', alarm, to: [] })
    await mail.enqueueMail({
      kind: 'incident',
      incident: { id: 'inc-1', type: 'supplyLoss', group: 'feeder-12', district: 'north', severity: 'major', members: [{ deviceId: 'lp-1', alarmId: 'a' }, { deviceId: 'lp-2', alarmId: 'b' }], openedAt: '2026-12-01T01:00:00.000Z' },
      to: ['lighting@city.example'],
    })
    const received = await eventually(() => smtp.received(), (m) => m.length >= 2, { timeoutMs: 10_000, what: 'two mails' })
    expect(received.map((m) => [m.subject, m.to.sort()])).toEqual([
      ['[critical] Not acknowledged (1): Cover open — mh-1 (north)', ['north-crew@city.example', 'supervisor@city.example']],
      ['[major] Incident: Supply loss — 2 devices of feeder-12 (north)', ['lighting@city.example']],
    ])
    expect(mail.depth()).toBe(0)
  })
})
