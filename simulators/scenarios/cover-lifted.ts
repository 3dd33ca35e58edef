// cover-lifted → coverOpen: the cover is lifted to ~35° (> 10°, under 90°) and the device sets its
// coverOpen flag; after 5 minutes it is put back, and the alarm clears after 60 s closed.
import { gaussian, round } from '../random.ts'
import { defineScenario, MINUTE_MS, send } from './scenario.ts'

export const coverLifted = defineScenario({
  name: 'cover-lifted',
  alarm: 'coverOpen',
  description: 'cover lifted to ~35° for 5 minutes',
  defaultDurationMs: 5 * MINUTE_MS,
  handlers: {
    manhole: function lift (reading, ctx) {
      return send({ ...reading, coverAngle: round(35 + gaussian(ctx.random) * 1.5, 2), coverOpen: true })
    },
  },
})
