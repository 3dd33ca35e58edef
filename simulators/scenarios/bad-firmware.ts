// bad-firmware → no alarm: a firmware bug corrupts every second message — a number sent as a string,
// a value out of range, a required field missing — in turn. Each gets a notice on the device's
// errors topic and is kept in `rejected`; the good half keeps the device online and alarm-free.
import type { KindName } from '../../devices/index.ts'
import { defineScenario, send, type FaultContext, type ScenarioOutcome } from './scenario.ts'

/** The required field of each kind and a value beyond its range. */
const BROKEN: { readonly [K in KindName]: { field: string; outOfRange: number } } = {
  'lamp-post': { field: 'supplyVoltage', outOfRange: 2300 },
  'water-pipe': { field: 'pressure', outOfRange: 16_000 },
  manhole: { field: 'coverAngle', outOfRange: 360 },
}

function corrupt<R extends object> (kind: KindName, reading: R, ctx: FaultContext): ScenarioOutcome<R> {
  if (ctx.count % 2 === 1) return send(reading)
  const { field, outOfRange } = BROKEN[kind]
  const copy: Record<string, unknown> = { ...(reading as Record<string, unknown>) }
  const defect = (ctx.count / 2) % 3
  if (defect === 0) copy[field] = String(copy[field])
  else if (defect === 1) copy[field] = outOfRange
  else delete copy[field]
  return { type: 'raw', payload: JSON.stringify(copy) }
}

export const badFirmware = defineScenario({
  name: 'bad-firmware',
  alarm: undefined,
  description: 'every second message is invalid (string number, out of range, missing field in turn)',
  defaultDurationMs: undefined,
  handlers: {
    'lamp-post': function corruptLampPost (reading, ctx) { return corrupt('lamp-post', reading, ctx) },
    'water-pipe': function corruptWaterPipe (reading, ctx) { return corrupt('water-pipe', reading, ctx) },
    manhole: function corruptManhole (reading, ctx) { return corrupt('manhole', reading, ctx) },
  },
})
