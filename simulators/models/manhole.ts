// Manhole model: a well-cover sensor. The cover sits near its baseline angle with small jolts from
// traffic; rain events raise the water level and let it drain away; gases stay near zero with small
// excursions; the battery drains slowly. Normal output stays clear of the default alarms: angle < 6°,
// water < 0.9 m, H2S < 5 ppm, CH4 < 5 %LEL, O2 20.5–21.3 %vol, battery > 25 %.
import { between, clamp, createRandom, deviceSeed, gaussian, round } from '../random.ts'
import { hoursSince, type DeviceModel, type ModelContext } from './model.ts'
import { solarHour } from './solar.ts'

/** Chance per hour that rain starts, and how long and how hard it rains. */
const RAIN_PER_HOUR = 0.04
const RAIN_HOURS: readonly [number, number] = [0.5, 3]
const RAIN_RISE_M: readonly [number, number] = [0.15, 0.5]

export function createManholeModel (ctx: ModelContext): DeviceModel<'manhole'> {
  const random = createRandom(deviceSeed(ctx.seed, ctx.deviceId, 'manhole'))
  const angleBase = between(random, 0.2, 1.5)
  const levelBase = between(random, 0.05, 0.3)
  const rssiBase = between(random, -110, -80)
  let battery = between(random, 55, 99)
  let level = levelBase
  let rainHoursLeft = 0
  let rainRise = 0
  let previousMs: number | undefined
  let seq = 0

  return {
    kind: 'manhole',
    next (timeMs) {
      const dtHours = hoursSince(previousMs, timeMs)
      previousMs = timeMs
      const hour = solarHour(timeMs, ctx.longitudeDeg)
      if (rainHoursLeft <= 0 && random() < 1 - Math.exp(-RAIN_PER_HOUR * dtHours)) {
        rainHoursLeft = between(random, ...RAIN_HOURS)
        rainRise = between(random, ...RAIN_RISE_M)
      }
      rainHoursLeft = Math.max(0, rainHoursLeft - dtHours)
      // First-order approach to the rain's level while it rains, then drainage back to the base.
      const target = rainHoursLeft > 0 ? levelBase + rainRise : levelBase
      const time = rainHoursLeft > 0 ? 0.4 : 1.2 // hours
      level += (target - level) * (1 - Math.exp(-dtHours / time))
      const traffic = hour >= 6 && hour < 22 ? 0.3 : 0.05
      const jolt = random() < traffic ? between(random, 0.3, 2.5) : 0
      const gasSpike = random() < 0.02 ? between(random, 1, 3) : 0
      battery = Math.max(30, battery - dtHours * (0.2 / 24)) // 0.2 % a day
      return {
        ts: timeMs,
        seq: seq++,
        rssi: round(clamp(rssiBase + gaussian(random) * 3, -130, -50), 0),
        coverAngle: round(clamp(angleBase + jolt + gaussian(random) * 0.1, 0, 6), 2),
        coverOpen: false,
        waterLevel: round(clamp(level + gaussian(random) * 0.01, 0, 0.9), 3),
        h2s: round(clamp(0.3 + gaussian(random) * 0.15 + gasSpike, 0, 5), 2),
        ch4: round(clamp(0.5 + gaussian(random) * 0.2 + gasSpike * 0.5, 0, 5), 2),
        o2: round(clamp(20.9 + gaussian(random) * 0.08 - gasSpike * 0.05, 20.5, 21.3), 2),
        temperature: round(clamp(12 + 2 * Math.sin(((hour - 14) / 24) * 2 * Math.PI) + gaussian(random) * 0.2, -40, 85), 1),
        battery: round(battery, 2),
      }
    },
  }
}
