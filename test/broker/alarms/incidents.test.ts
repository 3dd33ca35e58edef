// The incident detector on its own: the threshold (N devices, or the group share when fewer, never
// fewer than 2), the window, the supplyLoss/deviceOffline family, which alarms are stamped (only
// those after the threshold), coalesced updates, acknowledgement of the members, and closing when
// every member (pushed before the threshold or not) has cleared. The rules file's `incidents` key.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { AlarmEvent, AlarmRecord } from '../../../broker/alarms/alarm.ts'
import { DEFAULT_INCIDENT_RULES, incidentThreshold, type IncidentRules } from '../../../broker/alarms/incident-rules.ts'
import { createIncidents, INCIDENT_UPDATE_MIN_MS, type Incident } from '../../../broker/alarms/incidents.ts'
import { openRuleBook, parseRulesFile } from '../../../broker/alarms/rules-config.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'
import type { BrokerOut } from '../../../broker/mqtt/broker-out.ts'
import type { MailRequest } from '../../../broker/alarms/mail/mail-message.ts'

const silent = pino({ level: 'silent' })

function alarm (deviceId: string, type = 'supplyLoss', state: AlarmRecord['state'] = 'active', severity: AlarmRecord['severity'] = 'major'): AlarmRecord {
  const at = new Date().toISOString()
  return { id: `${deviceId}-${type}`, type, severity, state, deviceId, kind: 'lamp-post', district: 'north', value: 0, threshold: 50, message: 'm', raisedAt: at, updatedAt: at }
}

function setup (rules: Partial<IncidentRules> = {}, groupSize = 20) {
  const published: { topic: string; incident: Incident; retain: boolean }[] = []
  const removed: string[] = []
  const mails: MailRequest[] = []
  const acked: string[] = []
  const out: BrokerOut = {
    publish (topic, payload, retain) { published.push({ topic, incident: JSON.parse(payload.toString()) as Incident, retain }); return Promise.resolve() },
    removeRetained (topic) { removed.push(topic); return Promise.resolve() },
  }
  const incidents = createIncidents({
    rules () { return { ...DEFAULT_INCIDENT_RULES, ...rules } },
    groupOf (id) { return id.startsWith('lp-') ? 'feeder-1' : undefined },
    groupSize () { return groupSize },
    acknowledgeMember (crew, member) { acked.push(`${crew} ${member.deviceId}`); return Promise.resolve(true) },
    out,
    log: silent,
    mail (request) { mails.push(request) },
  })
  return { incidents, published, removed, mails, acked }
}

function raised (a: AlarmRecord): AlarmEvent {
  return { change: 'raised', alarm: a }
}

describe('incident threshold', () => {
  it('is N devices, or the group share when that is fewer, never fewer than 2', () => {
    expect(incidentThreshold(DEFAULT_INCIDENT_RULES, 100)).toBe(5)
    expect(incidentThreshold(DEFAULT_INCIDENT_RULES, 10)).toBe(3)
    expect(incidentThreshold(DEFAULT_INCIDENT_RULES, 3)).toBe(2)
    expect(incidentThreshold({ ...DEFAULT_INCIDENT_RULES, minDevices: 3 }, 100)).toBe(3)
  })
})

describe('incident detector', () => {
  it('opens one incident at the Nth device, stamps only the alarms from then on, and mails once', async () => {
    const { incidents, published, mails } = setup()
    const alarms = Array.from({ length: 8 }, (_, i) => alarm(`lp-${i}`, i % 2 === 0 ? 'supplyLoss' : 'deviceOffline'))
    for (const a of alarms) incidents.classify([raised(a)], Date.now())
    expect(alarms.map((a) => a.incident !== undefined)).toEqual([false, false, false, false, true, true, true, true])
    expect(alarms.slice(0, 4).every((a) => incidents.shouldPush(raised(a)))).toBe(true)
    expect(alarms.slice(4).some((a) => incidents.shouldPush(raised(a)))).toBe(false)
    const [incident] = incidents.list()
    expect(incident).toMatchObject({ type: 'supplyLoss', group: 'feeder-1', district: 'north', state: 'open', severity: 'major' })
    expect(incident!.members).toHaveLength(8)
    expect(new Set(alarms.map((a) => a.incident).filter(Boolean))).toEqual(new Set([incident!.id]))
    expect(mails).toHaveLength(1)
    expect(mails[0]).toMatchObject({ kind: 'incident', incident: { id: incident!.id, ackTopic: `incidents/north/${incident!.id}/ack` } })
    // Opened at once; the three joins are coalesced into one later update.
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(published).toHaveLength(1)
    expect(published[0]).toMatchObject({ topic: `incidents/north/${incident!.id}`, retain: true })
    await new Promise((resolve) => setTimeout(resolve, INCIDENT_UPDATE_MIN_MS + 200))
    expect(published).toHaveLength(2)
    expect(published[1]!.incident.members).toHaveLength(8)
    await incidents.close()
  })

  it('counts only raises within the window, of one type family, of devices with a group', () => {
    const { incidents } = setup({ windowMs: 1000 })
    const t0 = Date.now()
    for (let i = 0; i < 4; i++) incidents.classify([raised(alarm(`lp-old-${i}`))], t0)
    incidents.classify([raised(alarm('lp-other', 'doorOpen'))], t0 + 1500)
    incidents.classify([raised(alarm('mh-nogroup'))], t0 + 1500)
    incidents.classify([raised(alarm('lp-late'))], t0 + 1500)
    for (let i = 0; i < 6; i++) incidents.classify([raised({ ...alarm(`lp-maint-${i}`), maintenance: 'w1' })], t0 + 1600)
    expect(incidents.list()).toEqual([])
  })

  it('does not take in a raise that cleared before the threshold: the incident closes when the others clear', async () => {
    const { incidents } = setup({ minDevices: 3 })
    const gone = alarm('lp-gone')
    incidents.classify([raised(gone)], Date.now())
    incidents.classify([{ change: 'cleared', alarm: { ...gone, state: 'cleared' } }], Date.now())
    const rest = [alarm('lp-1'), alarm('lp-2'), alarm('lp-3')]
    incidents.classify(rest.map(raised), Date.now())
    expect(incidents.list()[0]!.members.map((m) => m.deviceId)).toEqual(['lp-1', 'lp-2', 'lp-3'])
    incidents.classify(rest.map((a) => ({ change: 'cleared' as const, alarm: { ...a, state: 'cleared' as const } })), Date.now())
    expect(incidents.list()[0]!.state).toBe('closed')
    await incidents.close()
  })

  it('restores saved incidents: open ones with their cleared members, closed ones; one whose members are gone closes', async () => {
    const first = setup({ minDevices: 2 })
    const alarms = [alarm('lp-a'), alarm('lp-b'), alarm('lp-c')]
    first.incidents.classify(alarms.map(raised), Date.now())
    first.incidents.classify([{ change: 'cleared', alarm: { ...alarms[0]!, state: 'cleared' } }], Date.now())
    const saved = first.incidents.snapshot()
    expect(saved.open[0]!.cleared).toEqual([alarms[0]!.id])
    await first.incidents.close()

    const published: string[] = []
    const restored = createIncidents({
      rules () { return DEFAULT_INCIDENT_RULES },
      groupOf () { return 'feeder-1' },
      groupSize () { return 20 },
      acknowledgeMember () { return Promise.resolve(true) },
      out: { publish (topic, payload, retain) { published.push(`${retain ? 'retained' : 'sent'} ${(JSON.parse(payload.toString()) as Incident).state}`); return Promise.resolve() }, removeRetained () { return Promise.resolve() } },
      log: silent,
      saved,
      isAlarmOpen () { return true },
    })
    await restored.restoreRetained()
    expect(published).toEqual(['retained open'])
    expect(restored.list()[0]).toMatchObject({ id: saved.open[0]!.incident.id, state: 'open' })
    for (const a of alarms.slice(1)) restored.classify([{ change: 'cleared', alarm: { ...a, state: 'cleared' } }], Date.now())
    expect(restored.list()[0]!.state).toBe('closed')
    await restored.close()

    const gone = createIncidents({
      rules () { return DEFAULT_INCIDENT_RULES },
      groupOf () { return 'feeder-1' },
      groupSize () { return 20 },
      acknowledgeMember () { return Promise.resolve(true) },
      out: { publish () { return Promise.resolve() }, removeRetained () { return Promise.resolve() } },
      log: silent,
      saved,
      isAlarmOpen () { return false },
    })
    expect(gone.list()[0]!.state).toBe('closed')
    await gone.close()
  })

  it('opens nothing when switched off in the rules file', () => {
    const { incidents } = setup({ enabled: false })
    for (let i = 0; i < 10; i++) incidents.classify([raised(alarm(`lp-${i}`))], Date.now())
    expect(incidents.list()).toEqual([])
  })

  it('acknowledges the members, and closes when every member has cleared', async () => {
    const { incidents, published, removed, acked } = setup({ minDevices: 2 })
    const alarms = [alarm('lp-a'), alarm('lp-b'), alarm('lp-c')]
    incidents.classify(alarms.map(raised), Date.now())
    const id = incidents.list()[0]!.id
    expect(await incidents.acknowledge('crew-x', ['south'], id, undefined, Date.now())).toEqual({ ok: false, reason: 'forbidden' })
    const outcome = await incidents.acknowledge('crew-n', ['north'], id, 'on it', Date.now())
    expect(outcome).toMatchObject({ ok: true, incident: { state: 'acknowledged', ackedBy: 'crew-n' } })
    expect(acked.sort()).toEqual(['crew-n lp-a', 'crew-n lp-b', 'crew-n lp-c'])
    for (const a of alarms.slice(0, 2)) incidents.classify([{ change: 'cleared', alarm: { ...a, state: 'cleared' } }], Date.now())
    expect(incidents.list()[0]!.state).toBe('acknowledged')
    incidents.classify([{ change: 'cleared', alarm: { ...alarms[2]!, state: 'cleared' } }], Date.now())
    expect(incidents.list()[0]).toMatchObject({ id, state: 'closed' })
    expect(incidents.list()[0]!.closedAt).toBeDefined()
    await incidents.close()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(published.at(-1)).toMatchObject({ retain: false, incident: { state: 'closed' } })
    expect(removed).toEqual([`incidents/north/${id}`])
    expect(await incidents.acknowledge('crew-n', ['north'], id, undefined, Date.now())).toEqual({ ok: false, reason: 'closed' })
  })
})

describe('rules file `incidents`', () => {
  it('is validated with the path in the message', () => {
    expect(parseRulesFile('incidents:\n  minDevices: 3\n  groupShare: 0.5\n  windowSec: 30\n  enabled: true\n', 'r.yaml').incidents).toEqual({ minDevices: 3, groupShare: 0.5, windowSec: 30, enabled: true })
    expect(() => parseRulesFile('incidents:\n  minDevices: 1\n', 'r.yaml')).toThrow(/r\.yaml: incidents\.minDevices/)
    expect(() => parseRulesFile('incidents:\n  groupShare: 2\n', 'r.yaml')).toThrow(/incidents\.groupShare/)
    expect(() => parseRulesFile('incidents:\n  windw: 2\n', 'r.yaml')).toThrow(/incidents/)
  })

  it('is re-read with the rules file, with the flapping key; a bad change keeps what is in force', async () => {
    const dir = await makeTempDir('csg-incident-rules-')
    try {
      const file = join(dir, 'rules.yaml')
      await writeFile(file, 'incidents: { minDevices: 3 }\n')
      const book = await openRuleBook({ file, pollMs: 60_000, log: silent })
      expect(book.incidents()).toEqual({ ...DEFAULT_INCIDENT_RULES, minDevices: 3 })
      await writeFile(file, 'incidents: { windowSec: 10, enabled: false }\nflapping: { raises: 2, withinSec: 60 }\n')
      await book.reload()
      expect(book.incidents()).toEqual({ ...DEFAULT_INCIDENT_RULES, windowMs: 10_000, enabled: false })
      expect(book.flapping()).toEqual({ enabled: true, raises: 2, withinMs: 60_000 })
      await writeFile(file, 'incidents: { minDevices: 1 }\n')
      await book.reload()
      expect(book.incidents().windowMs).toBe(10_000)
      book.close()
    } finally {
      await removeTempDir(dir)
    }
  })
})
