// The sun for the lamp-post and water models: time and place in, solar elevation, local solar hour
// and clear-sky illuminance out. A textbook approximation (declination by day of year, no equation
// of time): within ~1° of an ephemeris, plenty for dusk and dawn within a few minutes.

const DEG = Math.PI / 180
const DAY_MS = 86_400_000

/** Local mean solar time in hours [0, 24) at longitude `lonDeg` (east positive). */
export function solarHour (timeMs: number, lonDeg: number): number {
  const utcHours = (timeMs % DAY_MS) / 3_600_000
  return (((utcHours + lonDeg / 15) % 24) + 24) % 24
}

/** Sun elevation above the horizon in degrees (negative below it). */
export function solarElevationDeg (timeMs: number, latDeg: number, lonDeg: number): number {
  const dayOfYear = Math.floor((timeMs - Date.UTC(new Date(timeMs).getUTCFullYear(), 0, 1)) / DAY_MS) + 1
  const declination = -23.44 * Math.cos((360 / 365) * (dayOfYear + 10) * DEG)
  const hourAngle = 15 * (solarHour(timeMs, lonDeg) - 12)
  const sinElevation = Math.sin(latDeg * DEG) * Math.sin(declination * DEG) +
    Math.cos(latDeg * DEG) * Math.cos(declination * DEG) * Math.cos(hourAngle * DEG)
  return Math.asin(Math.max(-1, Math.min(1, sinElevation))) / DEG
}

/**
 * Clear-sky horizontal illuminance in lux for a sun elevation: ~100 klx at a high sun, ~400 lx at
 * sunrise, ~3 lx at the end of civil twilight (−6°), starlight below.
 */
export function clearSkyLux (elevationDeg: number): number {
  if (elevationDeg >= 0) return Math.min(100_000, 400 + 110_000 * Math.sin(elevationDeg * DEG))
  if (elevationDeg >= -6) return 400 * 10 ** (elevationDeg * (Math.log10(400 / 3) / 6))
  return Math.max(0.002, 3 * 10 ** ((elevationDeg + 6) / 3))
}

/** Lamps switch on below this sun elevation: clear-sky light is then ≈ 35 lx, under dayBurner's 50 lx. */
export const LAMP_ON_BELOW_ELEVATION_DEG = -3
