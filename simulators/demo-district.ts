// What the single-node and the cluster demo share: the simulated district, its faults, the rules
// file that makes a silent device noticeable within seconds, and the storage summary from InfluxDB.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LocalInfluxDb } from './local-influxdb.ts'

export const DISTRICT = 'old-town'
export const SPEED = 60
export const INTERVAL_MS = 60_000
export const FLEET_SIZE = { 'lamp-post': 3, 'water-pipe': 2, manhole: 2 } as const
export const FLEET_ORIGIN = { lat: 52.37, lon: 4.89 } as const
/** Faults at simulated offsets; with --duration 20 (20 simulated minutes) the first four raise and clear. */
export const SCENARIOS = ['cover-lifted@1m+3m', 'sewer-gas@2m+8m', 'device-silent@4m+5m', 'pipe-burst@6m', 'voltage-sag@3m+14m', 'bad-firmware@0m']

export function say (text: string): void {
  process.stdout.write(`${text}\n`)
}

/** Where the crew console is and how to sign in: the demo's crew account, its secret shown here once more for the person at the keyboard. */
export function sayConsole (httpUrl: string, crew: { name: string, secret: string } | undefined): void {
  if (crew === undefined) return
  say(`Crew console: ${httpUrl}/ (sign in as "${crew.name}" with secret ${crew.secret}; it stays up while the demo runs)`)
}

export function clock (ms: number): string {
  return new Date(ms).toISOString().slice(11, 19)
}

/**
 * Time runs 60× faster, but the offline detector watches the wall clock: a device's expected
 * interval becomes its real one (1 s), so a silent device is noticed within seconds.
 */
export async function writeDemoRules (dataDir: string): Promise<string> {
  const rulesFile = join(dataDir, 'demo-rules.json')
  const offline = { offline: { expectedIntervalSec: Math.max(1, INTERVAL_MS / 1000 / SPEED), missedIntervals: 3 } }
  await writeFile(rulesFile, JSON.stringify({ kinds: { 'lamp-post': offline, 'water-pipe': offline, manhole: offline } }, null, 2))
  return rulesFile
}

export interface StoredCounts { readings: number, rejected: number, alarms: number, text: string }

/** Points per measurement in the demo's InfluxDB. */
export async function countStored (influx: LocalInfluxDb): Promise<StoredCounts> {
  const counts: Record<string, number> = {}
  for (const [measurement, field] of [['lamp_post', 'supplyVoltage'], ['water_pipe', 'pressure'], ['manhole', 'coverAngle'], ['rejected', 'payload'], ['alarms', 'message']] as const) {
    const body = await influx.query(`SELECT count("${field}") FROM "${measurement}"`, 'city').catch(function unreachable () { return undefined }) as
      { results?: { series?: { values: [number, number][] }[] }[] } | undefined
    counts[measurement] = body?.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0
  }
  const readings = (counts.lamp_post ?? 0) + (counts.water_pipe ?? 0) + (counts.manhole ?? 0)
  return {
    readings,
    rejected: counts.rejected ?? 0,
    alarms: counts.alarms ?? 0,
    text: `in InfluxDB: ${Object.entries(counts).map(function pair ([m, n]) { return `${m} ${n}` }).join(', ')}`,
  }
}

export async function describeStorage (influx: LocalInfluxDb | undefined): Promise<string> {
  if (influx === undefined) return 'InfluxDB not configured: data waits in the spool'
  return (await countStored(influx)).text
}
