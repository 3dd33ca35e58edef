// pipe-burst → burstSuspected: pressure falls by ~100 kPa within two minutes (≥ 50 kPa within 5 min)
// while flow jumps. The fall stops at 260 kPa, above lowPressure's 241 kPa, so the burst raises
// only its own alarm; and the leak score stays below leakSuspected's 70.
import { gaussian, round } from '../random.ts'
import { defineScenario, MINUTE_MS, send } from './scenario.ts'

const DROP_KPA = 100
const FLOOR_KPA = 260

export const pipeBurst = defineScenario({
  name: 'pipe-burst',
  alarm: 'burstSuspected',
  description: 'main bursts: pressure −100 kPa (not below 260 kPa) within 2 min, flow +80 m³/h',
  defaultDurationMs: undefined,
  handlers: {
    'water-pipe': function burst (reading, ctx) {
      const share = Math.min(1, ctx.sinceMs / (2 * MINUTE_MS))
      const pressure = Math.max(FLOOR_KPA + Math.abs(gaussian(ctx.random)), reading.pressure - DROP_KPA * share)
      return send({
        ...reading,
        pressure: round(pressure, 1),
        flowRate: round((reading.flowRate ?? 0) + 80 * share, 2),
        leakScore: Math.min(45, (reading.leakScore ?? 0) + Math.round(30 * share)),
      })
    },
  },
})
