// Device groups as the incident detector needs them: a device's group, and how many registered
// devices a group has (counted over the registry at most once per COUNT_TTL_MS, not per alarm).
import type { Registry } from '../registry/registry.ts'

const COUNT_TTL_MS = 10_000

export interface DeviceGroups {
  groupOf(deviceId: string): string | undefined
  groupSize(group: string): number
}

export function registryGroups (registry: Pick<Registry, 'getDevice' | 'listDevices'>, now: () => number = Date.now): DeviceGroups {
  let sizes = new Map<string, number>()
  let countedAtMs = Number.NEGATIVE_INFINITY
  return {
    groupOf (deviceId) { return registry.getDevice(deviceId)?.group },
    groupSize (group) {
      const nowMs = now()
      if (nowMs - countedAtMs > COUNT_TTL_MS) {
        sizes = new Map()
        for (const [, device] of registry.listDevices()) {
          if (device.group !== undefined) sizes.set(device.group, (sizes.get(device.group) ?? 0) + 1)
        }
        countedAtMs = nowMs
      }
      return sizes.get(group) ?? 0
    },
  }
}
