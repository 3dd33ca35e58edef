// battery-drain → batteryLow: a failing cell: the battery falls to ~12 % (< 20 %) within 30 minutes
// and stays there. Kinds with a battery only (water-pipe, manhole).
import { round } from '../random.ts'
import { defineScenario, MINUTE_MS, send, type FaultContext } from './scenario.ts'

const FLOOR_PERCENT = 12

function drained (battery: number | undefined, ctx: FaultContext): number {
  const start = battery ?? 80
  return round(start - (start - FLOOR_PERCENT) * Math.min(1, ctx.sinceMs / (30 * MINUTE_MS)), 2)
}

export const batteryDrain = defineScenario({
  name: 'battery-drain',
  alarm: 'batteryLow',
  description: 'battery falls to ~12 % within 30 minutes',
  defaultDurationMs: undefined,
  handlers: {
    'water-pipe': function drainPipeBattery (reading, ctx) { return send({ ...reading, battery: drained(reading.battery, ctx) }) },
    manhole: function drainManholeBattery (reading, ctx) { return send({ ...reading, battery: drained(reading.battery, ctx) }) },
  },
})
