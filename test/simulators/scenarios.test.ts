// Every scenario (simulators/scenarios) against a real gateway (alarm engine included) and InfluxDB, with a fixed
// seed, in one time-compressed run of 40 simulated minutes starting mid-morning: each fault raises
// its named alarm on its device and no other alarm anywhere; the readings cross exactly that rule's
// default threshold; bad firmware gets notices, lands in `rejected` and raises nothing.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseScenarioSpec, planInjections, SCENARIOS } from '../../simulators/scenarios/index.ts'
import { runSimulation, type SimulationSummary } from '../../simulators/simulate.ts'
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../helpers/influxdb.ts'
import { makeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'
import { crossedRules } from './thresholds.ts'
import { createRecording, provisionTestFleet, type Recording } from './run-helpers.ts'

const SEED = 20_240_611
const DISTRICT = 'scn'
/** Which device each scenario goes to, all from 2 simulated minutes on. */
const PLAN: Record<string, string> = {
  'lamp-failure': 'scn-lp-0001',
  'day-burner': 'scn-lp-0002',
  'voltage-sag': 'scn-lp-0003',
  'pole-knocked': 'scn-lp-0004',
  'device-silent': 'scn-lp-0005',
  'bad-firmware': 'scn-lp-0006',
  'pipe-burst': 'scn-wp-0001',
  contamination: 'scn-wp-0002',
  'cover-lifted': 'scn-mh-0001',
  flooding: 'scn-mh-0002',
  'sewer-gas': 'scn-mh-0003',
  'battery-drain': 'scn-mh-0004',
}
const NORMAL = ['scn-wp-0003', 'scn-mh-0005']

let gw: TestGateway
let influx: InfluxDb1Server
let summary: SimulationSummary
let recording: Recording

beforeAll(async () => {
  influx = await startInfluxDb1()
  const dir = await makeTempDir('citygw-scn-')
  // The offline detector follows the wall clock: the silent device is expected every second.
  const rulesFile = join(dir, 'rules.json')
  await writeFile(rulesFile, JSON.stringify({ devices: { [PLAN['device-silent'] as string]: { offline: { expectedIntervalSec: 1, missedIntervals: 2 } } } }))
  gw = await startTestGateway({ env: { INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_DATABASE: 'city', ALARM_RULES_FILE: rulesFile, ALARM_OFFLINE_CHECK_MS: '200' } })
  const fleet = await provisionTestFleet(gw, DISTRICT, { 'lamp-post': 6, 'water-pipe': 3, manhole: 5 }, SEED)
  // Mid-morning (local solar time at 4.89° E) two days ago, so day-burner runs in daylight.
  const day = new Date(Date.now() - 2 * 86_400_000)
  const startMs = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), 9, 40)
  const specs = Object.entries(PLAN).map(function toSpec ([name, deviceId]) { return parseScenarioSpec(`${name}@2m:${deviceId}`) })
  recording = createRecording()
  summary = await runSimulation({
    url: gw.mqttUrl,
    devices: fleet.devices,
    crew: fleet.crew,
    seed: SEED,
    intervalMs: 30_000,
    speed: 480, // 40 simulated minutes in 5 s
    startMs,
    spanMs: 40 * 60_000,
    injections: planInjections(specs, fleet.devices, startMs),
    settleMs: 2500,
    onEmission: recording.record,
  })
}, 60_000)

afterAll(async () => {
  await gw?.close(true)
  await influx?.close()
})

function alarmTypesOf (deviceId: string): string[] {
  return summary.alarms.byDevice[deviceId] ?? []
}

describe('scenarios against a real gateway', () => {
  it('ran to completion: everything sent was acknowledged', () => {
    expect(summary.crewConnected).toBe(true)
    expect(summary.unsent).toBe(0)
    expect(summary.failed).toBe(0)
    expect(summary.acknowledged).toBe(summary.sent)
    expect(Object.keys(PLAN).sort()).toEqual(SCENARIOS.map(function nameOf (s) { return s.name }).sort())
  })

  it.each(SCENARIOS.filter(function hasAlarm (s) { return s.alarm !== undefined }).map(function row (s) { return [s.name, s.alarm as string] }))(
    '%s raises %s on its device and nothing else', (name, alarm) => {
      const deviceId = PLAN[name] as string
      expect(alarmTypesOf(deviceId)).toEqual([alarm])
      const kind = recording.kindOf.get(deviceId) as string
      if (alarm === 'deviceOffline') {
        const silentSince = recording.silentSince.get(deviceId) ?? 0
        expect(silentSince).toBeGreaterThanOrEqual(Date.parse(summary.simStart) + 2 * 60_000)
        expect((recording.readings.get(deviceId) ?? []).every(function before (r) { return r.ts < silentSince })).toBe(true)
        expect(crossedRules(kind, recording.readings.get(deviceId) ?? [])).toEqual([])
      } else {
        expect(crossedRules(kind, recording.readings.get(deviceId) ?? [])).toEqual([alarm])
      }
    })

  it('no alarm on healthy devices nor on the device with bad firmware', () => {
    for (const deviceId of [...NORMAL, PLAN['bad-firmware'] as string]) {
      expect(alarmTypesOf(deviceId)).toEqual([])
      expect(crossedRules(recording.kindOf.get(deviceId) as string, recording.readings.get(deviceId) ?? [])).toEqual([])
    }
    const expected = new Set(Object.values(PLAN).filter(function alarmed (id) { return id !== PLAN['bad-firmware'] }))
    expect(new Set(Object.keys(summary.alarms.byDevice))).toEqual(expected)
  })

  it('bad-firmware: every invalid message got a notice and is kept in `rejected`', async () => {
    const deviceId = PLAN['bad-firmware'] as string
    const invalid = recording.raw.get(deviceId) ?? 0
    expect(invalid).toBeGreaterThan(20)
    expect(summary.rejected).toBe(invalid)
    expect(summary.notices).toBe(invalid)
    await eventually(
      async () => (await influx.query(`SELECT count("payload") FROM "rejected" WHERE "device_id" = '${deviceId}'`, 'city'))[0]?.series?.[0]?.values[0]?.[1],
      (n) => n === invalid,
      { what: `${invalid} rejected points of ${deviceId}` },
    )
  })
})
