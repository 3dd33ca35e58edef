// A normal run of a whole district against a real gateway with its alarm engine, time-compressed to
// cover a night and a day (24 simulated hours in ~6 s): every reading is valid and acknowledged,
// no default alarm threshold is crossed, and the crew sees no alarm.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runSimulation, type SimulationSummary } from '../../simulators/simulate.ts'
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { crossedRules } from './thresholds.ts'
import { createRecording, provisionTestFleet, type Recording } from './run-helpers.ts'

const DAY_MS = 86_400_000
let gw: TestGateway
let summary: SimulationSummary
let recording: Recording

beforeAll(async () => {
  gw = await startTestGateway()
  const fleet = await provisionTestFleet(gw, 'dst', { 'lamp-post': 3, 'water-pipe': 3, manhole: 3 }, 11)
  recording = createRecording()
  summary = await runSimulation({
    url: gw.mqttUrl,
    devices: fleet.devices,
    crew: fleet.crew,
    seed: 11,
    intervalMs: 300_000,
    speed: DAY_MS / 6000,
    startMs: Date.now() - DAY_MS - 120_000,
    spanMs: DAY_MS,
    injections: [],
    onEmission: recording.record,
  })
}, 60_000)

afterAll(async () => {
  await gw?.close(true)
})

it('a night and a day of a district: all valid, all acknowledged, no alarm', () => {
  expect(summary.sent).toBe(9 * 288)
  expect(summary.acknowledged).toBe(summary.sent)
  expect(summary.rejected).toBe(0)
  expect(summary.notices).toBe(0)
  expect(summary.crewConnected).toBe(true)
  expect(summary.alarms.seen).toBe(0)
  for (const [deviceId, readings] of recording.readings) {
    expect(crossedRules(recording.kindOf.get(deviceId) as string, readings), deviceId).toEqual([])
  }
  const lamps = [...recording.readings.entries()].filter(function isLamp ([id]) { return recording.kindOf.get(id) === 'lamp-post' }).flatMap(function all ([, r]) { return r })
  expect(lamps.some(function isOn (r) { return (r.commandedLevel as number) > 0 })).toBe(true)
  expect(lamps.some(function isOff (r) { return r.commandedLevel === 0 })).toBe(true)
})
