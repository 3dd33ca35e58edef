// Acknowledgement deadlines: which one applies (defaults, kind / district / device overrides, 0 =
// none), the rules file's validation of the new keys, and the escalation check over a real engine:
// one step per deadline, counted up, the next deadline one period on, none once acknowledged.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { AlarmDevice } from '../../../broker/alarms/alarm.ts'
import { createAlarmEngine, type RuleSource } from '../../../broker/alarms/engine.ts'
import { createEscalation } from '../../../broker/alarms/escalation.ts'
import { ackDeadlineMs, escalationRecipients } from '../../../broker/alarms/escalation-rules.ts'
import { openRuleBook, parseRulesFile } from '../../../broker/alarms/rules-config.ts'
import type { BrokerOut } from '../../../broker/mqtt/broker-out.ts'
import { kinds } from '../../../devices/index.ts'
import type { CompiledRule } from '../../../devices/define-rule.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

const silent = pino({ level: 'silent' })

describe('acknowledgement deadlines', () => {
  it('default to 5 min critical, 30 min major, 4 h minor and none for warnings', () => {
    expect(ackDeadlineMs([], 'critical')).toBe(300_000)
    expect(ackDeadlineMs([], 'major')).toBe(1_800_000)
    expect(ackDeadlineMs([], 'minor')).toBe(14_400_000)
    expect(ackDeadlineMs([], 'warning')).toBeUndefined()
  })

  it('are overridden per severity by each scope in turn, 0 switching one off', () => {
    const kind = { ackDeadlineSec: { critical: 120, minor: 0 } }
    const district = { ackDeadlineSec: { critical: 60, warning: 3600 } }
    const device = { ackDeadlineSec: { critical: 2 } }
    expect(ackDeadlineMs([kind], 'critical')).toBe(120_000)
    expect(ackDeadlineMs([kind, district], 'critical')).toBe(60_000)
    expect(ackDeadlineMs([kind, district, device], 'critical')).toBe(2_000)
    expect(ackDeadlineMs([kind, district], 'major')).toBe(1_800_000)
    expect(ackDeadlineMs([kind, district], 'minor')).toBeUndefined()
    expect(ackDeadlineMs([kind, district], 'warning')).toBe(3_600_000)
  })

  it('have recipients from the most specific scope naming any, crews apart from e-mail addresses', () => {
    expect(escalationRecipients([])).toEqual({ crews: [], emails: [] })
    const district = { escalateTo: ['supervisors', 'duty@city.example'] }
    expect(escalationRecipients([{}, district, {}])).toEqual({ crews: ['supervisors'], emails: ['duty@city.example'] })
    expect(escalationRecipients([district, { escalateTo: ['night-crew'] }])).toEqual({ crews: ['night-crew'], emails: [] })
  })

  it.each([
    ['districts:\n  north:\n    ackDeadlineSec: { critical: -1 }\n', /districts\.north\.ackDeadlineSec\.critical/],
    ['districts:\n  north:\n    ackDeadlineSec: { critcal: 60 }\n', /districts\.north\.ackDeadlineSec/],
    ['kinds:\n  manhole:\n    ackDeadlineSec: { major: "soon" }\n', /kinds\.manhole\.ackDeadlineSec\.major/],
    ['devices:\n  mh-1:\n    escalateTo: ["not a name"]\n', /devices\.mh-1\.escalateTo\.0: must be a crew name .* or an e-mail address/],
    ['districts:\n  north:\n    escalateTo: supervisors\n', /districts\.north\.escalateTo/],
  ])('the rules file refuses %j naming the place', (text, message) => {
    expect(() => parseRulesFile(text, 'rules.yaml')).toThrow(message)
  })

  it('come from the rules file in force: kind, district and device scopes, re-read on change, a bad file refused', async () => {
    const dir = await makeTempDir('citygw-deadlines-')
    const file = join(dir, 'rules.yaml')
    await writeFile(file, 'kinds:\n  manhole:\n    ackDeadlineSec: { critical: 120 }\ndistricts:\n  north:\n    escalateTo: [supervisors]\ndevices:\n  mh-9:\n    ackDeadlineSec: { critical: 0 }\n')
    const book = await openRuleBook({ file, pollMs: 60_000, log: silent })
    const mh = { id: 'mh-1', kind: 'manhole', district: 'north' }
    const lamp = { id: 'lp-1', kind: 'lamp-post', district: 'south' }
    expect(book.ackDeadlineMs(mh, 'critical')).toBe(120_000)
    expect(book.ackDeadlineMs(lamp, 'critical')).toBe(300_000)
    expect(book.ackDeadlineMs({ ...mh, id: 'mh-9' }, 'critical')).toBeUndefined()
    expect(book.escalationRecipients(mh)).toEqual({ crews: ['supervisors'], emails: [] })
    expect(book.escalationRecipients(lamp)).toEqual({ crews: [], emails: [] })

    await writeFile(file, 'districts:\n  south:\n    ackDeadlineSec: { critical: 30 }\n    escalateTo: [duty@city.example]\n')
    await book.reload()
    expect(book.ackDeadlineMs(mh, 'critical')).toBe(300_000)
    expect(book.ackDeadlineMs(lamp, 'critical')).toBe(30_000)
    expect(book.escalationRecipients(lamp)).toEqual({ crews: [], emails: ['duty@city.example'] })

    await writeFile(file, 'districts:\n  south:\n    ackDeadlineSec: { critical: -5 }\n')
    await book.reload()
    expect(book.ackDeadlineMs(lamp, 'critical')).toBe(30_000)
    book.close()
    await removeTempDir(dir)
  })

  it('the rules file accepts deadlines and recipients in every scope', () => {
    const text = 'kinds:\n  manhole:\n    ackDeadlineSec: { critical: 60 }\ndistricts:\n  north:\n    ackDeadlineSec: { warning: 600, minor: 0 }\n    escalateTo: [supervisors, duty@city.example]\ndevices:\n  mh-1:\n    escalateTo: []\n'
    expect(parseRulesFile(text, 'rules.yaml').districts?.north?.escalateTo).toEqual(['supervisors', 'duty@city.example'])
  })
})

describe('escalation check', () => {
  const manhole: AlarmDevice = { id: 'mh-1', kind: 'manhole', district: 'north' }
  const defaults = (device: AlarmDevice): CompiledRule[] =>
    (Object.values(kinds).find((k) => k.name === device.kind)?.rules ?? []).map((rule) => rule.build(rule.params))
  const deadlines = { critical: 2_000, major: 5_000, minor: undefined, warning: undefined } as const
  const ackDeadline = (_device: AlarmDevice, severity: keyof typeof deadlines): number | undefined => deadlines[severity]
  const rules: RuleSource = { rulesFor: defaults, offlineAfterMs: () => undefined, ackDeadlineMs: ackDeadline }
  const published: string[] = []
  const out: BrokerOut = {
    publish (topic) { published.push(topic); return Promise.resolve() },
    removeRetained () { return Promise.resolve() },
  }

  function setUp () {
    const engine = createAlarmEngine(rules)
    const escalation = createEscalation({ engine, rules: { ackDeadlineMs: ackDeadline, escalationRecipients: () => ({ crews: ['supervisors'], emails: ['duty@city.example'] }) }, out, log: silent })
    return { engine, escalation }
  }

  it('escalates an active alarm at each deadline, one period apart, until it is acknowledged', () => {
    const { engine, escalation } = setUp()
    const t0 = 1_000_000
    // A cover wide open: critical at once.
    const [raised] = engine.evaluate(manhole, [{ tsMs: t0, values: { coverAngle: 1, coverOpen: true } }], t0)
    expect(raised?.alarm).toMatchObject({ severity: 'critical', ackDueAt: new Date(t0 + 2_000).toISOString() })
    expect(raised?.alarm.escalation).toBeUndefined()
    expect(escalation.check(t0 + 1_999)).toEqual([])
    const [first] = escalation.check(t0 + 2_000)
    expect(first).toMatchObject({ change: 'overdue', alarm: { id: raised!.alarm.id, state: 'active', escalation: 1, ackDueAt: new Date(t0 + 4_000).toISOString(), updatedAt: new Date(t0 + 2_000).toISOString() } })
    expect(escalation.check(t0 + 2_500)).toEqual([])
    // Checked late (a busy or restarted gateway): one step, the next deadline one period from now.
    const [second] = escalation.check(t0 + 9_000)
    expect(second?.alarm).toMatchObject({ escalation: 2, ackDueAt: new Date(t0 + 11_000).toISOString() })
    expect(engine.openAlarms()[0]).toMatchObject({ escalation: 2 })

    const acked = engine.acknowledge('crew-a', 'mh-1', 'coverOpen', undefined, t0 + 9_500)
    expect(acked.ok && acked.event.alarm.ackDueAt).toBeUndefined()
    expect(escalation.check(t0 + 60_000)).toEqual([])
  })

  it('never escalates an alarm without a deadline (warnings by default)', () => {
    const { engine, escalation } = setUp()
    const [raised] = engine.evaluate(manhole, [{ tsMs: 0, values: { coverAngle: 0, battery: 10 } }], 0)
    expect(raised?.alarm).toMatchObject({ type: 'batteryLow', severity: 'warning' })
    expect(raised?.alarm.ackDueAt).toBeUndefined()
    expect(escalation.check(10 * 86_400_000)).toEqual([])
  })

  it('sends an own step to the escalation crews and the e-mail listeners; another node\'s to the crews only', () => {
    const { engine, escalation } = setUp()
    const heard: string[][] = []
    escalation.onEscalation((_event, recipients) => { heard.push([...recipients.emails]) })
    engine.evaluate(manhole, [{ tsMs: 0, values: { coverAngle: 1, coverOpen: true } }], 0)
    const [step] = escalation.check(2_000)
    published.length = 0
    escalation.delivered(step!, true)
    escalation.delivered(step!, false)
    expect(published).toEqual(['escalations/supervisors/north/manhole/mh-1/coverOpen', 'escalations/supervisors/north/manhole/mh-1/coverOpen'])
    expect(heard).toEqual([['duty@city.example']])
  })
})

describe('deadline of a late reading', () => {
  it('runs from when the gateway raised the alarm, not from the reading\'s time', () => {
    const rules: RuleSource = {
      rulesFor: (device) => (Object.values(kinds).find((k) => k.name === device.kind)?.rules ?? []).map((rule) => rule.build(rule.params)),
      offlineAfterMs: () => undefined,
      ackDeadlineMs: () => 60_000,
    }
    const engine = createAlarmEngine(rules)
    const nowMs = 10_000_000
    const [raised] = engine.evaluate({ id: 'mh-2', kind: 'manhole', district: 'north' }, [{ tsMs: nowMs - 3_600_000, values: { coverAngle: 1, coverOpen: true } }], nowMs)
    expect(raised?.alarm.ackDueAt).toBe(new Date(nowMs + 60_000).toISOString())
  })
})
