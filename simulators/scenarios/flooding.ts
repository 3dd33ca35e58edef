// flooding → highWater: a cloudburst fills the shaft to ~1.25 m (major: > 1.0 m, below critical's
// 1.5 m) over 10 minutes; it drains in the last 10 minutes of the event and the alarm clears.
import { gaussian, round } from '../random.ts'
import { defineScenario, envelope, MINUTE_MS, send } from './scenario.ts'

const PEAK_M = 1.25

export const flooding = defineScenario({
  name: 'flooding',
  alarm: 'highWater',
  description: 'water level rises to ~1.25 m and recedes over 40 minutes',
  defaultDurationMs: 40 * MINUTE_MS,
  handlers: {
    manhole: function flood (reading, ctx) {
      const normal = reading.waterLevel ?? 0.2
      const level = normal + (PEAK_M - normal) * envelope(ctx, 10 * MINUTE_MS) + gaussian(ctx.random) * 0.005
      return send({ ...reading, waterLevel: round(Math.max(0, level), 3) })
    },
  },
})
