// voltage-sag → underVoltage: an overloaded feeder holds the supply near 200 V (< 207 V for 10 min,
// EN 50160 −10 %), well above supplyLoss's 50 V; LED drivers keep their power, drawing more current.
import { gaussian, round } from '../random.ts'
import { defineScenario, MINUTE_MS, send } from './scenario.ts'

export const voltageSag = defineScenario({
  name: 'voltage-sag',
  alarm: 'underVoltage',
  description: 'supply sags to ~200 V for 25 minutes',
  defaultDurationMs: 25 * MINUTE_MS,
  handlers: {
    'lamp-post': function sag (reading, ctx) {
      const supplyVoltage = round(200 + gaussian(ctx.random) * 1, 1)
      const powerFactor = reading.powerFactor ?? 0.95
      return send({ ...reading, supplyVoltage, supplyCurrent: round(reading.activePower / (supplyVoltage * powerFactor), 3) })
    },
  },
})
