// The simulated fleet: counts per kind and a district in, devices with ids and coordinates out;
// `provisionFleet` registers them (and a crew) in the local registry and writes a fleet file with
// their secrets (mode 0600); `readFleetFile` reads one back. Secrets never reach stdout.
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { z } from 'zod'
import { addCrew, importDevices } from '../broker/registry/provision.ts'
import type { RegistryTarget } from '../broker/registry/registry-store.ts'
import { kindNames, type KindName } from '../devices/index.ts'
import type { SimDevice } from './device-script.ts'
import { createRandom, deviceSeed } from './random.ts'

const PREFIX: { readonly [K in KindName]: string } = { 'lamp-post': 'lp', 'water-pipe': 'wp', manhole: 'mh' }

export type FleetSize = { readonly [K in KindName]?: number | undefined }

/** Devices `<district>-lp-0001` …, scattered within ~1 km of (lat, lon), deterministic from the seed. */
export function planFleet (district: string, size: FleetSize, lat: number, lon: number, seed: number): SimDevice[] {
  const devices: SimDevice[] = []
  for (const kind of kindNames) {
    for (let n = 1; n <= (size[kind] ?? 0); n++) {
      const id = `${district}-${PREFIX[kind]}-${String(n).padStart(4, '0')}`
      const random = createRandom(deviceSeed(seed, id, 'place'))
      devices.push({ id, kind, district, lat: round6(lat + (random() - 0.5) * 0.02), lon: round6(lon + (random() - 0.5) * 0.03) })
    }
  }
  return devices
}

function round6 (value: number): number {
  return Math.round(value * 1e6) / 1e6
}

const fleetFileSchema = z.object({
  devices: z.array(z.object({
    id: z.string().min(1),
    secret: z.string().min(1),
    kind: z.enum(kindNames),
    district: z.string().min(1),
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
  })),
  crew: z.object({ name: z.string().min(1), secret: z.string().min(1) }).optional(),
  /** End of the simulated time of the last run with this fleet (ISO). */
  simulatedUntil: z.string().optional(),
})

export type FleetFile = z.infer<typeof fleetFileSchema>
export type FleetDevice = FleetFile['devices'][number]

/** Registers the devices and a crew `<district>-crew` for their district; writes the fleet file (0600, never overwritten). */
export async function provisionFleet (registry: RegistryTarget, devices: readonly SimDevice[], fleetFile: string, crewName: string | undefined): Promise<FleetFile> {
  // The file is made before anything is registered: secrets that cannot be written down would be lost.
  await mkdir(dirname(fleetFile), { recursive: true, mode: 0o700 })
  const handle = await open(fleetFile, 'wx', 0o600)
  let fleet: FleetFile
  try {
    fleet = await registerFleet(registry, devices, crewName)
    await handle.writeFile(`${JSON.stringify(fleet, null, 2)}\n`)
  } catch (err) {
    await handle.close()
    await rm(fleetFile, { force: true })
    throw err
  }
  await handle.close()
  return fleet
}

async function registerFleet (registry: RegistryTarget, devices: readonly SimDevice[], crewName: string | undefined): Promise<FleetFile> {
  const lines = devices.map(function toImportLine (d) { return JSON.stringify({ id: d.id, kind: d.kind, district: d.district, lat: d.lat, lon: d.lon }) })
  const credentials = await importDevices(registry, lines.join('\n'))
  const secretOf = new Map(credentials.map(function byId (c) { return [c.id, c.secret] as const }))
  const districts = [...new Set(devices.map(function districtOf (d) { return d.district }))]
  const crew = crewName === undefined ? undefined : await addCrew(registry, crewName, districts)
  const fleet: FleetFile = {
    devices: devices.map(function withSecret (d) { return { ...d, secret: secretOf.get(d.id) ?? '' } }),
    ...(crew === undefined ? {} : { crew: { name: crew.id, secret: crew.secret } }),
  }
  return fleet
}

/** Notes how far the fleet's simulated time got, so the next run can warn about overlapping (late) readings. */
export async function recordSimulatedUntil (file: string, fleet: FleetFile, untilMs: number): Promise<void> {
  await writeFile(file, `${JSON.stringify({ ...fleet, simulatedUntil: new Date(untilMs).toISOString() }, null, 2)}\n`, { mode: 0o600 })
}

export async function readFleetFile (file: string): Promise<FleetFile> {
  const parsed = fleetFileSchema.safeParse(JSON.parse(await readFile(file, 'utf8')))
  if (!parsed.success) throw new Error(`fleet file ${file}: ${parsed.error.issues.map(function describe (i) { return `${i.path.join('.')}: ${i.message}` }).join('; ')}`)
  return parsed.data
}
