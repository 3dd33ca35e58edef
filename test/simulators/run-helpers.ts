// Shared by the simulator e2e tests: provision a planned fleet into a test gateway's registry and
// record every emission of a run per device, for the threshold checks.
import { registryPath } from '../../broker/registry/store.ts'
import type { KindName } from '../../devices/index.ts'
import type { Emission, SimDevice } from '../../simulators/device-script.ts'
import { planFleet, provisionFleet, type FleetFile, type FleetSize } from '../../simulators/fleet.ts'
import type { TestGateway } from '../helpers/gateway.ts'

export async function provisionTestFleet (gw: TestGateway, district: string, size: FleetSize, seed: number): Promise<FleetFile> {
  const devices = planFleet(district, size, 52.37, 4.89, seed)
  const fleet = await provisionFleet(registryPath(gw.dataDir), devices, `${gw.dataDir}/fleet-${district}.json`, `${district}-crew`)
  await gw.gateway.reloadRegistry()
  return fleet
}

export interface Recording {
  readonly readings: Map<string, (Record<string, unknown> & { ts: number })[]>
  readonly raw: Map<string, number>
  readonly silentSince: Map<string, number>
  readonly kindOf: Map<string, KindName>
  readonly record: (device: SimDevice, timeMs: number, emission: Emission) => void
}

export function createRecording (): Recording {
  const readings = new Map<string, (Record<string, unknown> & { ts: number })[]>()
  const raw = new Map<string, number>()
  const silentSince = new Map<string, number>()
  const kindOf = new Map<string, KindName>()
  return {
    readings,
    raw,
    silentSince,
    kindOf,
    record: function record (device, timeMs, emission) {
      kindOf.set(device.id, device.kind)
      if (emission.type === 'reading') {
        const list = readings.get(device.id) ?? []
        list.push({ ...(emission.reading as Record<string, unknown>), ts: timeMs })
        readings.set(device.id, list)
      } else if (emission.type === 'raw') {
        raw.set(device.id, (raw.get(device.id) ?? 0) + 1)
      } else if (!silentSince.has(device.id)) {
        silentSince.set(device.id, timeMs)
      }
    },
  }
}
