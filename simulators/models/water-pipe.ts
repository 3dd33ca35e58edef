// Water-pipe model: a pressure/quality probe on a distribution main. Demand follows a diurnal curve
// with morning and evening peaks; pressure dips as flow rises. Normal output stays clear of every
// default alarm: pressure 300–500 kPa (alarms < 241, > 550), no 50 kPa drop within
// 5 min, turbidity ≤ 0.6 NTU, chlorine 0.3–1.2 mg/L, pH 6.9–8.1, leakScore < 30, battery > 25 %.
import { between, clamp, createRandom, deviceSeed, gaussian, round } from '../random.ts'
import { hoursSince, type DeviceModel, type ModelContext } from './model.ts'
import { solarHour } from './solar.ts'

function bump (hour: number, centre: number, width: number): number {
  const distance = Math.min(Math.abs(hour - centre), 24 - Math.abs(hour - centre))
  return Math.exp(-(distance * distance) / (2 * width * width))
}

/** Share of peak demand by local hour: a night base, a morning peak (~07:30) and an evening peak (~19:30). */
export function demandShare (hour: number): number {
  return clamp(0.25 + 0.7 * bump(hour, 7.5, 1.2) + 0.55 * bump(hour, 19.5, 1.6) + 0.15 * bump(hour, 13, 2.5), 0, 1)
}

export function createWaterPipeModel (ctx: ModelContext): DeviceModel<'water-pipe'> {
  const random = createRandom(deviceSeed(ctx.seed, ctx.deviceId, 'water-pipe'))
  const staticPressure = between(random, 410, 460) // kPa at zero demand
  const headLoss = between(random, 50, 75) // kPa lost at peak demand
  const peakFlow = between(random, 40, 160) // m³/h
  const chlorineBase = between(random, 0.45, 0.8)
  const phBase = between(random, 7.2, 7.7)
  const rssiBase = between(random, -100, -70)
  let battery = between(random, 60, 98)
  let totalVolume = between(random, 1e4, 1e6)
  let previousMs: number | undefined
  let seq = 0

  return {
    kind: 'water-pipe',
    next (timeMs) {
      const dtHours = hoursSince(previousMs, timeMs)
      previousMs = timeMs
      const hour = solarHour(timeMs, ctx.longitudeDeg)
      const demand = clamp(demandShare(hour) * (1 + gaussian(random) * 0.03), 0.05, 1.1)
      const flowRate = peakFlow * demand
      totalVolume += flowRate * dtHours
      battery = Math.max(30, battery - dtHours * (0.3 / 24)) // 0.3 % a day
      const pressure = clamp(staticPressure - headLoss * demand + gaussian(random) * 2, 300, 500)
      return {
        ts: timeMs,
        seq: seq++,
        rssi: round(clamp(rssiBase + gaussian(random) * 2, -120, -40), 0),
        pressure: round(pressure, 1),
        flowRate: round(flowRate, 2),
        totalVolume: round(totalVolume, 2),
        waterTemp: round(clamp(12 + 0.8 * Math.sin(((hour - 15) / 24) * 2 * Math.PI) + gaussian(random) * 0.1, 1, 30), 2),
        turbidity: round(clamp(0.25 + gaussian(random) * 0.06, 0.05, 0.6), 3),
        freeChlorine: round(clamp(chlorineBase - 0.1 * demand + gaussian(random) * 0.03, 0.3, 1.2), 3),
        pH: round(clamp(phBase + gaussian(random) * 0.05, 6.9, 8.1), 2),
        leakScore: Math.round(clamp(8 + gaussian(random) * 4, 0, 29)),
        battery: round(battery, 2),
      }
    },
  }
}
