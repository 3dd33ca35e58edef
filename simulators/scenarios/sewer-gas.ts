// sewer-gas → h2s: a pocket of sewer gas: H2S rises to ~14 ppm (major: ≥ 10, below critical's 20)
// over 3 minutes and vents away by the end of the event. CH4 and O2 stay inside their limits.
import { gaussian, round } from '../random.ts'
import { defineScenario, envelope, MINUTE_MS, send } from './scenario.ts'

export const sewerGas = defineScenario({
  name: 'sewer-gas',
  alarm: 'h2s',
  description: 'H2S rises to ~14 ppm for 20 minutes',
  defaultDurationMs: 20 * MINUTE_MS,
  handlers: {
    manhole: function gas (reading, ctx) {
      const share = envelope(ctx, 3 * MINUTE_MS)
      const h2s = (reading.h2s ?? 0.3) + share * (13.5 + gaussian(ctx.random) * 0.3)
      return send({ ...reading, h2s: round(h2s, 2), ch4: round(Math.min(6, (reading.ch4 ?? 0.5) + 2 * share), 2) })
    },
  },
})
