// contamination → turbidity: soil enters the main; turbidity climbs to ~2.5 NTU (major: > 1,
// below critical's 5) over 5 minutes. Chlorine is consumed a little but stays above 0.2 mg/L.
import { gaussian, round } from '../random.ts'
import { defineScenario, envelope, MINUTE_MS, send } from './scenario.ts'

export const contamination = defineScenario({
  name: 'contamination',
  alarm: 'turbidity',
  description: 'turbidity rises to ~2.5 NTU for 40 minutes',
  defaultDurationMs: 40 * MINUTE_MS,
  handlers: {
    'water-pipe': function contaminate (reading, ctx) {
      const share = envelope(ctx, 5 * MINUTE_MS)
      const turbidity = (reading.turbidity ?? 0.25) + share * (2.3 + gaussian(ctx.random) * 0.1)
      const freeChlorine = Math.max(0.25, (reading.freeChlorine ?? 0.5) - 0.08 * share)
      return send({ ...reading, turbidity: round(turbidity, 3), freeChlorine: round(freeChlorine, 3) })
    },
  },
})
