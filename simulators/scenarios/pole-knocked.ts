// pole-knocked → poleTilt: a vehicle hits the pole, which stays leaning at ~8° (major: > 5°,
// below the 10° of critical), until the run ends.
import { gaussian, round } from '../random.ts'
import { defineScenario, send } from './scenario.ts'

export const poleKnocked = defineScenario({
  name: 'pole-knocked',
  alarm: 'poleTilt',
  description: 'a vehicle knocks the pole to ~8° from vertical',
  defaultDurationMs: undefined,
  handlers: {
    'lamp-post': function lean (reading, ctx) {
      return send({ ...reading, tilt: round(8 + gaussian(ctx.random) * 0.1, 2) })
    },
  },
})
