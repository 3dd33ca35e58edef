// The API's in-memory view of each device's life: MQTT connections open now, last time it sent
// accepted readings, and its latest value per field. Fed by ingest's onReadings and the broker's
// connect/disconnect events; bounded by the registry's devices (forget() on removal).

export interface DeviceLife {
  /** Open MQTT connections of the device right now. */
  connections: number
  /** When the gateway last accepted a reading from it (epoch ms). */
  lastSeenMs: number | undefined
  /** Latest value of each field with the reading time it came from. */
  latest: Map<string, { value: number | boolean; tsMs: number }>
}

export interface DeviceTable {
  onReadings(deviceId: string, readings: readonly { tsMs: number; values: Readonly<Record<string, number | boolean>> }[]): void
  onConnected(deviceId: string): void
  onDisconnected(deviceId: string): void
  get(deviceId: string): DeviceLife | undefined
  forget(deviceId: string): void
}

export function createDeviceTable (now: () => number = Date.now): DeviceTable {
  const table = new Map<string, DeviceLife>()

  function entry (deviceId: string): DeviceLife {
    let life = table.get(deviceId)
    if (life === undefined) {
      life = { connections: 0, lastSeenMs: undefined, latest: new Map() }
      table.set(deviceId, life)
    }
    return life
  }

  return {
    onReadings (deviceId, readings) {
      const life = entry(deviceId)
      life.lastSeenMs = now()
      for (const reading of readings) {
        for (const field in reading.values) {
          const value = reading.values[field]
          if (value === undefined) continue
          const previous = life.latest.get(field)
          // A backfilled batch must not replace newer values; entries are updated in place (hot path).
          if (previous === undefined) {
            life.latest.set(field, { value, tsMs: reading.tsMs })
          } else if (previous.tsMs <= reading.tsMs) {
            previous.value = value
            previous.tsMs = reading.tsMs
          }
        }
      }
    },
    onConnected (deviceId) { entry(deviceId).connections += 1 },
    onDisconnected (deviceId) {
      const life = table.get(deviceId)
      if (life !== undefined) life.connections = Math.max(0, life.connections - 1)
    },
    get (deviceId) { return table.get(deviceId) },
    forget (deviceId) { table.delete(deviceId) },
  }
}
