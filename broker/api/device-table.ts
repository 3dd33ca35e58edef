// The API's in-memory view of each device's life: MQTT connections open now, last time it sent
// accepted readings, and its latest value per field. Fed by ingest's onReadings and the broker's
// connect/disconnect events; bounded by the registry's devices (forget() on removal).

export interface DeviceLife {
  /** Open MQTT connections of the device right now. */
  connections: number
  /** When the gateway last accepted a reading from it (epoch ms). */
  lastSeenMs: number | undefined
  /** Latest value of each field with the reading time it came from, in the kind's field order. */
  latest: Map<string, { value: number | boolean; tsMs: number }>
}

export interface DeviceTable {
  /** `fieldNames`: every key a reading of the device's kind may hold (the kind's `fieldNames`). */
  onReadings(deviceId: string, fieldNames: readonly string[], readings: readonly { tsMs: number; values: Values }[]): void
  onConnected(deviceId: string): void
  onDisconnected(deviceId: string): void
  get(deviceId: string): DeviceLife | undefined
  forget(deviceId: string): void
}

type Values = Readonly<Record<string, number | boolean>>

/**
 * One device as kept: for each of its kind's fields, the reading values that hold its latest value
 * and their reading time, in arrays indexed like the kind's field names. Every accepted message
 * passes through here, so the hot path is two array stores per field: no per-field map lookups, no
 * objects, not even the boxing of a copied number (those were 3–4 % of the gateway's CPU and a
 * share of its garbage under the bench's load). The Map that DeviceLife shows is built when the
 * API asks. Readings' values are never changed once validated, so keeping a reference is safe.
 */
interface Entry {
  connections: number
  lastSeenMs: number | undefined
  /** The field names the arrays follow; replaced (and the arrays cleared) if the kind changes. */
  fieldNames: readonly string[]
  /** The values of the reading that gave each field its latest value. */
  sources: (Values | undefined)[]
  /** Reading time of each field's latest value; NaN while there is none. */
  times: number[]
}

const NO_FIELDS: readonly string[] = []

export function createDeviceTable (now: () => number = Date.now): DeviceTable {
  const table = new Map<string, Entry>()

  function entry (deviceId: string): Entry {
    let life = table.get(deviceId)
    if (life === undefined) {
      life = { connections: 0, lastSeenMs: undefined, fieldNames: NO_FIELDS, sources: [], times: [] }
      table.set(deviceId, life)
    }
    return life
  }

  return {
    onReadings (deviceId, fieldNames, readings) {
      const life = entry(deviceId)
      life.lastSeenMs = now()
      if (life.fieldNames !== fieldNames) {
        life.fieldNames = fieldNames
        life.sources = fieldNames.map(function none () { return undefined })
        life.times = fieldNames.map(function none () { return Number.NaN })
      }
      const { sources, times } = life
      for (const reading of readings) {
        for (let i = 0; i < fieldNames.length; i++) {
          // A backfilled batch must not replace newer values (NaN: no value yet, never greater).
          if (reading.values[fieldNames[i] as string] === undefined || (times[i] as number) > reading.tsMs) continue
          sources[i] = reading.values
          times[i] = reading.tsMs
        }
      }
    },
    onConnected (deviceId) { entry(deviceId).connections += 1 },
    onDisconnected (deviceId) {
      const life = table.get(deviceId)
      if (life !== undefined) life.connections = Math.max(0, life.connections - 1)
    },
    get (deviceId) {
      const life = table.get(deviceId)
      if (life === undefined) return undefined
      const latest = new Map<string, { value: number | boolean; tsMs: number }>()
      for (let i = 0; i < life.fieldNames.length; i++) {
        const field = life.fieldNames[i] as string
        const value = life.sources[i]?.[field]
        if (value !== undefined) latest.set(field, { value, tsMs: life.times[i] as number })
      }
      return { connections: life.connections, lastSeenMs: life.lastSeenMs, latest }
    },
    forget (deviceId) { table.delete(deviceId) },
  }
}
