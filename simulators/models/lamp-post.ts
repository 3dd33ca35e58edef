// Lamp-post model: a 60–120 W LED street light with a dusk-to-dawn schedule from the sun's
// elevation, a night dimming profile, mains voltage with noise, and cumulative energy and hours.
// Normal output stays clear of every default alarm (lamps are off whenever ambient
// light could exceed dayBurner's 50 lx; voltage stays within 207–253 V; tilt under 5°).
import { between, clamp, createRandom, deviceSeed, gaussian, round } from '../random.ts'
import { hoursSince, type DeviceModel, type ModelContext } from './model.ts'
import { clearSkyLux, LAMP_ON_BELOW_ELEVATION_DEG, solarElevationDeg, solarHour } from './solar.ts'

/** Commanded level by local solar hour while the lamp is on: full in the evening and morning, dimmed at night. */
export function nightLevel (hour: number): number {
  if (hour >= 23 || hour < 5) return 50
  if (hour >= 22 || hour < 6) return 70
  return 100
}

export function createLampPostModel (ctx: ModelContext): DeviceModel<'lamp-post'> {
  const random = createRandom(deviceSeed(ctx.seed, ctx.deviceId, 'lamp-post'))
  const nominalW = Math.round(between(random, 60, 120))
  const standbyW = round(between(random, 0.3, 0.8), 2)
  const tiltBase = between(random, 0.2, 1.5)
  const voltageBase = between(random, 227, 233)
  const rssiBase = between(random, -95, -60)
  let energyKWh = between(random, 500, 5000)
  let operatingHours = between(random, 2000, 20_000)
  let cloud = between(random, 0.4, 1) // share of clear-sky light reaching the photocell
  let previousMs: number | undefined
  let seq = 0

  return {
    kind: 'lamp-post',
    next (timeMs) {
      const dtHours = hoursSince(previousMs, timeMs)
      previousMs = timeMs
      cloud = clamp(cloud + gaussian(random) * 0.05 * Math.sqrt(Math.max(dtHours, 0.01)), 0.3, 1)
      const elevation = solarElevationDeg(timeMs, ctx.latitudeDeg, ctx.longitudeDeg)
      const hour = solarHour(timeMs, ctx.longitudeDeg)
      // The photocell reads at most clear-sky light; ×1.05 noise keeps it under 37 lx while the lamp is on.
      const ambientLux = clamp(clearSkyLux(elevation) * cloud * (1 + gaussian(random) * 0.015), 0, 100_000)
      const isOn = elevation < LAMP_ON_BELOW_ELEVATION_DEG
      const commandedLevel = isOn ? nightLevel(hour) : 0
      // EN 50160 allows ±10 %; a healthy feeder wanders ±1–2 %, a little lower at the evening peak.
      const eveningSag = hour >= 17 && hour < 21 ? 2 : 0
      const supplyVoltage = clamp(voltageBase - eveningSag + gaussian(random) * 1.2, 215, 245)
      const activePower = isOn
        ? clamp(nominalW * (commandedLevel / 100) * (1 + gaussian(random) * 0.02), 5.5, 2000)
        : clamp(standbyW + gaussian(random) * 0.05, 0, 1.5)
      const powerFactor = isOn ? clamp(0.96 + gaussian(random) * 0.01, 0.9, 1) : clamp(0.45 + gaussian(random) * 0.03, 0.3, 0.6)
      energyKWh += (activePower * dtHours) / 1000
      if (isOn) operatingHours += dtHours
      const airTemp = 10 + 5 * Math.sin(((hour - 9) / 24) * 2 * Math.PI)
      return {
        ts: timeMs,
        seq: seq++,
        rssi: round(clamp(rssiBase + gaussian(random) * 2, -120, -30), 0),
        commandedLevel,
        actualLevel: commandedLevel,
        supplyVoltage: round(supplyVoltage, 1),
        supplyCurrent: round(activePower / (supplyVoltage * powerFactor), 3),
        activePower: round(activePower, 1),
        powerFactor: round(powerFactor, 2),
        activeEnergy: round(energyKWh, 3),
        operatingHours: round(operatingHours, 3),
        gearTemp: round(clamp(airTemp + (isOn ? commandedLevel * 0.25 : 1) + gaussian(random) * 0.5, -40, 65), 1),
        tilt: round(clamp(tiltBase + gaussian(random) * 0.05, 0, 4), 2),
        ambientLux: round(ambientLux, 1),
        doorOpen: false,
        leakage: false,
        lampFailure: false,
      }
    },
  }
}
