// Escalation of unacknowledged alarms with a real gateway, a real InfluxDB 1.x, MQTT.js devices and
// crews, and deadlines of 1 s from the rules file: a critical alarm nobody acknowledges is re-sent
// (retained) with escalation 1, 2, … and the next ackDueAt, and goes to the escalation crew on its
// own topic; acknowledging stops it; a warning never escalates; a district's overrides apply (south:
// no deadline for critical, 1 s for minor); every step is an `alarms` point and one log line; a
// restart keeps the deadline and the count; GET /api/alarms/stats answers count, median and 90th
// percentile time to acknowledge and to clear and escalations from InfluxDB, crews their districts
// only, and the console's History page shows them (Chromium).
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addOperator } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import type { AlarmStats } from '../../broker/api/types.ts'
import { basic, getJson } from '../helpers/api-client.ts'
import { closeChromium, DESKTOP, hasChromium, launchChromium, seriousAxeViolations } from '../helpers/browser.ts'
import { REPO_ROOT, registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { collect, connectClient, connectDevice, subscribeCodes } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const RULES = `
districts:
  north:
    ackDeadlineSec: { critical: 1 }
    escalateTo: [supervisors, duty@city.example]
  south:
    ackDeadlineSec: { critical: 0, minor: 1 }
`
const LAMP = { commandedLevel: 50, supplyVoltage: 230, activePower: 40 }
const OVERDUE_LOG = 'alarm overdue: escalated for want of an acknowledgement'

interface Record_ { id: string; type: string; severity: string; state: string; deviceId: string; escalation?: number; ackDueAt?: string; raisedAt: string; updatedAt: string }

describe('escalation of unacknowledged alarms', () => {
  let influx: InfluxDb1Server
  let gw: TestGateway
  let rulesDir: string
  let env: Record<string, string>
  const clients: MqttClient[] = []
  const secrets: Record<string, string> = {}
  let ops: Record<string, string>

  async function device (id: string): Promise<MqttClient> {
    const client = await connectDevice(gw.mqttUrl, id, secrets[id]!)
    clients.push(client)
    return client
  }
  async function crew (name: string, clientId: string): Promise<MqttClient> {
    const client = await connectClient(gw.mqttUrl, { clientId, username: name, password: secrets[name]!, reconnectPeriod: 0 })
    clients.push(client)
    return client
  }
  async function publish (id: string, reading: Record<string, unknown>): Promise<void> {
    const client = clients.find((c) => c.options.clientId === id && c.connected) ?? await device(id)
    await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
  }
  function records (messages: { payload: Buffer }[]): Record_[] {
    return messages.map((m) => JSON.parse(m.payload.toString()) as Record_)
  }
  async function pointsOf (alarmId: string): Promise<{ change: string; escalation: number | null; ack_sec: number | null; clear_sec: number | null }[]> {
    const [result] = await influx.query(`SELECT "change","escalation","ack_sec","clear_sec" FROM "alarms" WHERE "alarm_id" = '${alarmId}'`, 'city')
    const series = result?.series?.[0]
    if (series === undefined) return []
    return series.values.map((row) => Object.fromEntries(series.columns.map((c, i) => [c, row[i]]))) as never
  }

  beforeAll(async () => {
    // The gateway serves the console it finds built at start.
    if (hasChromium) await promisify(execFile)('bash', [join(REPO_ROOT, 'scripts/build-console.sh')], { cwd: REPO_ROOT, timeout: 90_000 })
    influx = await startInfluxDb1({ databases: ['city'] })
    rulesDir = await makeTempDir('citygw-escalation-')
    const rulesFile = join(rulesDir, 'rules.yaml')
    await writeFile(rulesFile, RULES)
    env = { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city', INFLUX_FLUSH_MS: '50', ALARM_RULES_FILE: rulesFile, ALARM_OFFLINE_CHECK_MS: '200' }
    gw = await startTestGateway({ env })
    for (const id of ['lp-n1', 'lp-n2', 'lp-n3']) secrets[id] = (await registerDevice(gw.dataDir, id, 'lamp-post', 'north')).secret
    secrets['mh-n'] = (await registerDevice(gw.dataDir, 'mh-n', 'manhole', 'north')).secret
    for (const id of ['lp-s1', 'lp-s2']) secrets[id] = (await registerDevice(gw.dataDir, id, 'lamp-post', 'south')).secret
    secrets['crew-north'] = (await registerCrew(gw.dataDir, 'crew-north', ['north'])).secret
    secrets['crew-south'] = (await registerCrew(gw.dataDir, 'crew-south', ['south'])).secret
    // The escalation crew does not see north otherwise: it hears of north's overdue alarms on its own topic only.
    secrets.supervisors = (await registerCrew(gw.dataDir, 'supervisors', ['east'])).secret
    ops = basic('ops', (await addOperator(registryPath(gw.dataDir), 'ops')).secret)
    await gw.gateway.reloadRegistry()
  }, 120_000)

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)))
    await gw?.close(true)
    await influx?.close()
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  let leakAlarm: Record_
  let secondLeak: Record_

  it('re-sends an unacknowledged critical alarm with escalation 1, 2 and the next deadline, to the district and the escalation crew, until acknowledged', async () => {
    const north = await crew('crew-north', 'north-phone')
    const northSeen = await collect(north, 'alarms/north/#')
    const supervisors = await crew('supervisors', 'supervisors-phone')
    // Its own escalations only: not another crew's, not north's alarms.
    expect(await subscribeCodes(supervisors, ['escalations/crew-north/#', 'alarms/north/#', 'escalations/#'])).toEqual([128, 128, 128])
    const escalated = await collect(supervisors, 'escalations/supervisors/#')
    expect(escalated.granted[0]?.qos).toBe(1)
    const south = await crew('crew-south', 'south-phone')
    const southSeen = await collect(south, 'alarms/south/#')

    // Raised together: north's critical leak (deadline 1 s), a warning in north (no deadline), and in
    // south a critical leak (deadline switched off there) and a minor open door (1 s there).
    await publish('lp-n1', { ...LAMP, leakage: true })
    await publish('mh-n', { coverAngle: 0, battery: 10 })
    await publish('lp-s1', { ...LAMP, leakage: true })
    await publish('lp-s2', { ...LAMP, doorOpen: true })

    await eventually(() => records(northSeen.messages).filter((r) => r.deviceId === 'lp-n1'), (rs) => rs.some((r) => r.escalation === 2), { what: 'escalation 2 of lp-n1', timeoutMs: 10_000 })
    const leak = records(northSeen.messages).filter((r) => r.deviceId === 'lp-n1')
    leakAlarm = leak[0]!
    expect(leakAlarm).toMatchObject({ type: 'leakage', severity: 'critical', state: 'active' })
    expect(leakAlarm.escalation).toBeUndefined()
    // One deadline from when the gateway raised it (the reading's receipt time, a moment earlier).
    expect(Date.parse(leakAlarm.ackDueAt!) - Date.parse(leakAlarm.raisedAt)).toBeGreaterThanOrEqual(1000)
    expect(Date.parse(leakAlarm.ackDueAt!) - Date.parse(leakAlarm.raisedAt)).toBeLessThan(1500)
    expect(leak.slice(1, 3).map((r) => [r.id, r.state, r.escalation])).toEqual([[leakAlarm.id, 'active', 1], [leakAlarm.id, 'active', 2]])
    // Each step sets the next deadline one period after the step.
    for (const step of leak.slice(1, 3)) expect(Date.parse(step.ackDueAt!) - Date.parse(step.updatedAt)).toBe(1000)
    expect(Date.parse(leak[2]!.ackDueAt!)).toBeGreaterThan(Date.parse(leak[1]!.ackDueAt!))
    expect(northSeen.messages.filter((m) => m.topic === 'alarms/north/lamp-post/lp-n1/leakage')).toHaveLength(leak.length)

    // The latest step is what a crew connecting now gets (retained).
    const late = await crew('crew-north', 'north-late')
    const lateSeen = await collect(late, 'alarms/north/lamp-post/lp-n1/leakage')
    await lateSeen.waitFor(1)
    expect(lateSeen.messages[0]!.retain).toBe(true)
    expect((lateSeen.json(0) as unknown as Record_).escalation).toBeGreaterThanOrEqual(2)

    // The escalation crew got each step on its own topic.
    await escalated.waitFor(2)
    expect(escalated.messages[0]!.topic).toBe('escalations/supervisors/north/lamp-post/lp-n1/leakage')
    expect(records(escalated.messages).slice(0, 2).map((r) => [r.id, r.escalation])).toEqual([[leakAlarm.id, 1], [leakAlarm.id, 2]])

    // Acknowledged: no more steps.
    await north.publishAsync('alarms/north/lamp-post/lp-n1/leakage/ack', JSON.stringify({ note: 'isolating the pole' }), { qos: 1 })
    const acked = await eventually(() => records(northSeen.messages).find((r) => r.deviceId === 'lp-n1' && r.state === 'acknowledged'), (r) => r !== undefined, { what: 'the acknowledgement' })
    expect(acked?.ackDueAt).toBeUndefined()
    const stepsAtAck = records(northSeen.messages).filter((r) => r.deviceId === 'lp-n1' && r.state === 'active').length
    const escalatedAtAck = escalated.messages.length

    // Meanwhile south's minor door alarm escalated (1 s there), its critical leak did not (no deadline there).
    await eventually(() => records(southSeen.messages), (rs) => rs.some((r) => r.deviceId === 'lp-s2' && r.escalation === 1), { what: 'escalation 1 of lp-s2' })
    // Two more deadline periods pass.
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    expect(records(northSeen.messages).filter((r) => r.deviceId === 'lp-n1' && r.state === 'active')).toHaveLength(stepsAtAck)
    expect(escalated.messages).toHaveLength(escalatedAtAck)
    const warning = records(northSeen.messages).filter((r) => r.deviceId === 'mh-n')
    expect(warning.map((r) => [r.type, r.severity, r.escalation, r.ackDueAt])).toEqual([['batteryLow', 'warning', undefined, undefined]])
    const southLeak = records(southSeen.messages).filter((r) => r.deviceId === 'lp-s1')
    expect(southLeak.map((r) => [r.severity, r.escalation, r.ackDueAt])).toEqual([['critical', undefined, undefined]])
    // South's escalation recipients are none: the supervisors heard of north only.
    expect(escalated.messages.every((m) => m.topic.startsWith('escalations/supervisors/north/'))).toBe(true)

    // Every step is one point (with its number) and one log line.
    const steps = stepsAtAck - 1
    const points = await eventually(() => pointsOf(leakAlarm.id), (ps) => ps.filter((p) => p.change === 'overdue').length === steps && ps.some((p) => p.change === 'acknowledged'), { what: 'the overdue points' })
    expect(points.filter((p) => p.change === 'overdue').map((p) => p.escalation)).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
    expect(gw.logs().filter((l) => l.msg === OVERDUE_LOG && l.alarmId === leakAlarm.id).map((l) => [l.deviceId, l.escalation])).toEqual(
      Array.from({ length: steps }, (_, i) => ['lp-n1', i + 1]))

    // The timeline shows the steps.
    const timeline = await getJson(`${gw.httpUrl}/api/alarms/${leakAlarm.id}/timeline`, ops)
    expect((timeline.body.events as { change: string; escalation?: number }[]).filter((e) => e.change === 'overdue').map((e) => e.escalation)).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
    expect(timeline.body.alarm).toMatchObject({ ackEscalations: steps, escalations: 0 })

    // Cleared afterwards, for the stats below.
    await publish('lp-n1', { ...LAMP, leakage: false })
    await eventually(() => pointsOf(leakAlarm.id), (ps) => ps.some((p) => p.change === 'cleared'), { what: 'the clear point' })
  }, 40_000)

  it('keeps the deadline and the count across a restart', async () => {
    const north = await crew('crew-north', 'north-restart')
    const seen = await collect(north, 'alarms/north/lamp-post/lp-n2/leakage')
    await publish('lp-n2', { ...LAMP, leakage: true })
    await eventually(() => records(seen.messages), (rs) => rs.some((r) => r.escalation === 1), { what: 'escalation 1 of lp-n2' })
    await gw.close()
    const lastBefore = Math.max(...records(seen.messages).map((r) => r.escalation ?? 0))
    clients.splice(0).forEach((c) => { c.end(true) })

    gw = await startTestGateway({ env, dataDir: gw.dataDir })
    const again = await crew('crew-north', 'north-after-restart')
    const seenAgain = await collect(again, 'alarms/north/lamp-post/lp-n2/leakage')
    await seenAgain.waitFor(1)
    const restored = seenAgain.json(0) as unknown as Record_
    secondLeak = restored
    expect(restored.escalation).toBeGreaterThanOrEqual(lastBefore)
    expect(restored.ackDueAt).toBeDefined()
    // The steps count on from the ones before the restart: none is sent again.
    const before = restored.escalation!
    await eventually(() => records(seenAgain.messages), (rs) => rs.some((r) => r.escalation === before + 1), { what: `escalation ${before + 1} after the restart` })
    expect(records(seenAgain.messages).map((r) => r.escalation)).toEqual(Array.from({ length: seenAgain.messages.length }, (_, i) => before + i))
    await again.publishAsync('alarms/north/lamp-post/lp-n2/leakage/ack', '{}', { qos: 1 })
    await eventually(() => pointsOf(restored.id), (ps) => ps.some((p) => p.change === 'acknowledged'), { what: 'the acknowledgement point' })
  }, 40_000)

  it('answers stats per district and type from InfluxDB: count, median and 90th percentile to acknowledge and to clear, escalations', async () => {
    // After the restart memory holds only the second leak's last changes: the first one comes from InfluxDB.
    const [first, second] = await Promise.all([pointsOf(leakAlarm.id), pointsOf(secondLeak.id)])
    const ackSecs = [first, second].map((ps) => ps.find((p) => p.change === 'acknowledged')!.ack_sec!).sort((a, b) => a - b)
    const overdue = [...first, ...second].filter((p) => p.change === 'overdue').length
    const res = await getJson(`${gw.httpUrl}/api/alarms/stats?district=north`, ops)
    expect(res.status).toBe(200)
    const stats = res.body as unknown as AlarmStats
    expect(stats.partial).toBeUndefined()
    const leak = stats.groups.find((g) => g.type === 'leakage')
    expect(leak).toEqual({
      district: 'north', type: 'leakage', count: 2, acknowledged: 2,
      medianAckSec: round((ackSecs[0]! + ackSecs[1]!) / 2), p90AckSec: round(ackSecs[0]! + (ackSecs[1]! - ackSecs[0]!) * 0.9),
      cleared: 1, medianClearSec: round(first.find((p) => p.change === 'cleared')!.clear_sec!), p90ClearSec: round(first.find((p) => p.change === 'cleared')!.clear_sec!),
      escalations: overdue,
    })
    expect(stats.groups.find((g) => g.type === 'batteryLow')).toEqual({ district: 'north', type: 'batteryLow', count: 1, acknowledged: 0, cleared: 0, escalations: 0 })
    expect(stats.groups.every((g) => g.district === 'north')).toBe(true)

    // A crew sees its districts only; bad ranges are refused.
    const south = basic('crew-south', secrets['crew-south']!)
    const southStats = (await getJson(`${gw.httpUrl}/api/alarms/stats`, south)).body as unknown as AlarmStats
    expect(southStats.groups.map((g) => [g.district, g.type, g.count, g.escalations])).toEqual([['south', 'doorOpen', 1, expect.any(Number)], ['south', 'leakage', 1, 0]])
    expect(southStats.groups[0]!.escalations).toBeGreaterThanOrEqual(1)
    expect((await getJson(`${gw.httpUrl}/api/alarms/stats?district=north`, south)).status).toBe(403)
    expect((await getJson(`${gw.httpUrl}/api/alarms/stats?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z`, ops)).status).toBe(400)
    expect((await getJson(`${gw.httpUrl}/api/alarms/stats?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`, ops)).status).toBe(400)
    expect((await getJson(`${gw.httpUrl}/api/alarms/stats?from=yesterday`, ops)).status).toBe(400)

    // InfluxDB down: a partial answer from memory, not a 5xx.
    await influx.stop()
    try {
      const partial = await getJson(`${gw.httpUrl}/api/alarms/stats?district=north`, ops)
      expect(partial.status).toBe(200)
      expect(partial.body.partial).toBe(true)
      expect(String(partial.body.warning)).toMatch(/InfluxDB did not answer/)
    } finally {
      await influx.start()
    }

    const doc = await getJson(`${gw.httpUrl}/api/openapi.json`)
    expect(Object.keys(doc.body.paths as Record<string, unknown>)).toContain('/api/alarms/stats')
  }, 40_000)

  it.skipIf(!hasChromium)('shows the stats on the console\'s History page', async () => {
    const browser = await launchChromium()
    try {
      const page = await (await browser.newContext({ viewport: DESKTOP })).newPage()
      await page.goto(gw.httpUrl)
      await page.getByLabel('Name').fill('crew-north')
      await page.getByLabel('Secret').fill(secrets['crew-north']!)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.locator('.live-live').waitFor()
      await page.goto(`${gw.httpUrl}/#/history`)
      const row = page.locator('.history-stats-table tr[data-district="north"][data-type="leakage"]')
      await row.waitFor({ timeout: 5000 })
      const cells = await row.locator('td').allTextContents()
      expect(cells.slice(0, 3)).toEqual(['north', 'Leakage', '2'])
      expect(cells[3]).toMatch(/^\d+ s \/ \d+ s$/)
      expect(Number(cells[5])).toBeGreaterThanOrEqual(3)
      // A crew of north sees no other district's figures.
      expect(await page.locator('.history-stats-table tr[data-district="south"]').count()).toBe(0)
      for (const colorScheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme })
        expect(await seriousAxeViolations(page), colorScheme).toEqual([])
      }
    } finally {
      await closeChromium(browser)
    }
  }, 60_000)
})

function round (sec: number): number {
  return Math.round(sec * 1000) / 1000
}
