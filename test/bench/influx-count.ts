// Counts what a broker stored in its private InfluxDB 1.x (database `city`): the gateway's points per
// measurement, and the peer bridge's readings. Counting a kind's required field counts its points.
import type { LocalInfluxDb } from '../../simulators/local-influxdb.ts'

/** The required field of each kind's measurement: counting it counts the points. */
const COUNTED: readonly { measurement: string; field: string }[] = [
  { measurement: 'lamp_post', field: 'commandedLevel' },
  { measurement: 'water_pipe', field: 'pressure' },
  { measurement: 'manhole', field: 'coverAngle' },
]

export interface StoredCount { total: number; byMeasurement: Record<string, number>; rejected: number }

async function countPoints (influx: LocalInfluxDb, measurement: string, field: string, where = ''): Promise<number> {
  const body = await influx.query(`SELECT count("${field}") FROM "${measurement}"${where === '' ? '' : ` WHERE ${where}`}`, 'city') as {
    results?: { series?: { values?: unknown[][] }[]; error?: string }[]
  }
  const result = body.results?.[0]
  if (result?.error !== undefined) throw new Error(`InfluxDB: ${result.error}`)
  const value = result?.series?.[0]?.values?.[0]?.[1]
  return typeof value === 'number' ? value : 0
}

/** The gateway's points: each kind's measurement, and the rejected payloads it keeps apart. */
export async function countStored (influx: LocalInfluxDb): Promise<StoredCount> {
  const byMeasurement: Record<string, number> = {}
  let total = 0
  for (const { measurement, field } of COUNTED) {
    const n = await countPoints(influx, measurement, field)
    byMeasurement[measurement] = n
    total += n
  }
  return { total, byMeasurement, rejected: await countPoints(influx, 'rejected', 'payload') }
}

/** Readings the peer bridge stored: one measurement `reading`; each kind's required field counts its points. */
export async function countPeerStored (influx: LocalInfluxDb, where = ''): Promise<number> {
  let total = 0
  for (const { field } of COUNTED) total += await countPoints(influx, 'reading', field, where)
  return total
}

/** The gateway's points, all kinds, of the devices whose id starts with `prefix` (letters, digits and `-` only). */
export async function countStoredOfDevices (influx: LocalInfluxDb, prefix: string): Promise<number> {
  if (!/^[A-Za-z0-9-]+$/.test(prefix)) throw new Error(`not a plain device id prefix: ${prefix}`)
  let total = 0
  for (const { measurement, field } of COUNTED) total += await countPoints(influx, measurement, field, `"device_id" =~ /^${prefix}/`)
  return total
}
