// day-burner → dayBurner: the lamp's contactor sticks closed, so it burns at full power in daylight
// (activePower > 5 W while ambientLux > 50 lx for 10 min). Injected at night, the alarm comes at dawn.
import { clamp, gaussian, round } from '../random.ts'
import { defineScenario, send } from './scenario.ts'

const NOMINAL_W = 90

export const dayBurner = defineScenario({
  name: 'day-burner',
  alarm: 'dayBurner',
  description: 'contactor stuck closed: the lamp burns at full power day and night',
  defaultDurationMs: undefined,
  handlers: {
    'lamp-post': function burnAllDay (reading, ctx) {
      const activePower = reading.commandedLevel > 0 ? reading.activePower : NOMINAL_W * clamp(1 + gaussian(ctx.random) * 0.02, 0.9, 1.1)
      return send({
        ...reading,
        actualLevel: 100,
        activePower: round(activePower, 1),
        supplyCurrent: round(activePower / (reading.supplyVoltage * 0.96), 3),
        powerFactor: 0.96,
      })
    },
  },
})
