// The device models (simulators/models): over random seeds, places and times, every reading passes
// its kind's zod schema and crosses none of the default alarm thresholds; counters only grow;
// lamps burn at night and are off in daylight. Property tests with fast-check.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { kinds, kindNames, type KindName } from '../../devices/index.ts'
import { createModel } from '../../simulators/models/index.ts'
import { solarElevationDeg } from '../../simulators/models/solar.ts'
import { crossedRules } from './thresholds.ts'

const NOW = Date.UTC(2026, 5, 1)
const YEAR_MS = 365 * 86_400_000

function run (kind: KindName, seed: number, lat: number, lon: number, startMs: number, stepMs: number, steps: number): Record<string, unknown>[] {
  const model = createModel(kind, { deviceId: `dev-${seed}`, seed, latitudeDeg: lat, longitudeDeg: lon })
  return Array.from({ length: steps }, function step (_, i) { return { ...model.next(startMs + i * stepMs) } })
}

describe('device models', () => {
  it.each(kindNames)('%s: readings always pass the schema and cross no default threshold', (kind) => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 2 ** 31 }),
      fc.double({ min: -60, max: 60, noNaN: true }),
      fc.double({ min: -180, max: 180, noNaN: true }),
      fc.integer({ min: 0, max: YEAR_MS }),
      fc.constantFrom(10_000, 60_000, 300_000, 3_600_000),
      function holds (seed, lat, lon, offsetMs, stepMs) {
        const readings = run(kind, seed, lat, lon, NOW + offsetMs, stepMs, 200)
        for (const reading of readings) {
          const parsed = kinds[kind].schema.safeParse(reading)
          if (!parsed.success) throw new Error(`${JSON.stringify(reading)}: ${parsed.error.message}`)
        }
        expect(crossedRules(kind, readings as (Record<string, unknown> & { ts: number })[])).toEqual([])
      },
    ), { numRuns: 60, seed: 4 })
  })

  it('is deterministic: the same seed gives the same readings', () => {
    for (const kind of kindNames) expect(run(kind, 7, 52, 5, NOW, 60_000, 50)).toEqual(run(kind, 7, 52, 5, NOW, 60_000, 50))
    expect(run('manhole', 7, 52, 5, NOW, 60_000, 50)).not.toEqual(run('manhole', 8, 52, 5, NOW, 60_000, 50))
  })

  it('lamp posts: energy and operating hours only grow; on at night, off in daylight', () => {
    const readings = run('lamp-post', 3, 52.37, 4.89, NOW, 300_000, 600)
    for (let i = 1; i < readings.length; i++) {
      expect(readings[i]?.activeEnergy as number).toBeGreaterThanOrEqual(readings[i - 1]?.activeEnergy as number)
      expect(readings[i]?.operatingHours as number).toBeGreaterThanOrEqual(readings[i - 1]?.operatingHours as number)
    }
    const elevationOf = (r: Record<string, unknown>): number => solarElevationDeg(r.ts as number, 52.37, 4.89)
    const night = readings.filter(function isNight (r) { return elevationOf(r) < -6 })
    const day = readings.filter(function isDay (r) { return elevationOf(r) > 5 })
    expect(night.length).toBeGreaterThan(50)
    expect(day.length).toBeGreaterThan(50)
    expect(night.every(function isOn (r) { return (r.commandedLevel as number) > 0 && (r.activePower as number) > 5 })).toBe(true)
    expect(day.every(function isOff (r) { return r.commandedLevel === 0 && (r.activePower as number) < 5 })).toBe(true)
    expect(new Set(night.map(function level (r) { return r.commandedLevel })).size).toBeGreaterThan(1) // dimmed at night
  })

  it('water pipes: pressure dips at the morning peak while flow rises', () => {
    const readings = run('water-pipe', 5, 52.37, 0, NOW, 600_000, 144)
    const at = (hour: number): Record<string, unknown> => readings[hour * 6] as Record<string, unknown>
    expect(at(7).pressure as number).toBeLessThan(at(3).pressure as number - 20)
    expect(at(7).flowRate as number).toBeGreaterThan(at(3).flowRate as number)
  })
})
