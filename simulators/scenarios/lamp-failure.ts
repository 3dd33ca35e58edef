// lamp-failure → lampFailure: the LED module dies. The driver raises its lampFailure flag and the
// lamp draws only standby power whatever it is commanded (activePower < 5 W while commanded on).
import { defineScenario, send } from './scenario.ts'

export const lampFailure = defineScenario({
  name: 'lamp-failure',
  alarm: 'lampFailure',
  description: 'LED module fails: lampFailure flag set, standby power only',
  defaultDurationMs: undefined,
  handlers: {
    'lamp-post': function failLamp (reading) {
      const activePower = Math.min(reading.activePower, 0.6)
      return send({ ...reading, actualLevel: 0, activePower, supplyCurrent: 0.01, lampFailure: true })
    },
  },
})
