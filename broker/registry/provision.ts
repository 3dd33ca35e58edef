// Registry changes made by operators through the CLI: add, remove and import devices, add crews
// and operator accounts.
// Each returns the new secret in plain text exactly once; only its hash is kept. They work on a
// RegistryStore (registry.json or the cluster's KV bucket); a path stands for its registry.json.
import { parse as parseCsv } from 'csv-parse/sync'
import type { z } from 'zod'
import { GatewayError } from '../errors.ts'
import { deviceInputSchema, idSchema, type DeviceInput, type RegistryData } from './schema.ts'
import { generateSecret, hashSecret } from './secrets.ts'
import { registryStoreOf, type RegistryTarget } from './registry-store.ts'

export interface Credential { id: string; secret: string }

export async function addDevice (target: RegistryTarget, input: unknown): Promise<Credential> {
  const device = parseDeviceInput(input, 'device')
  const [credential] = await registryStoreOf(target).update(function addOne (data) {
    return registerDevices(data, [device])
  })
  return credential as Credential
}

export async function removeDevice (target: RegistryTarget, id: string): Promise<void> {
  await registryStoreOf(target).update(function removeOne (data) {
    if (!Object.hasOwn(data.devices, id)) throw new GatewayError('CSG_REGISTRY_NOT_FOUND', `no device ${id}`)
    delete data.devices[id]
  })
}

export async function addCrew (target: RegistryTarget, name: string, districts?: string[]): Promise<Credential> {
  const crewName = parseWith(idSchema, name, 'crew name')
  const crewDistricts = districts?.map(function checkDistrict (d) { return parseWith(idSchema, d, 'district') })
  return registryStoreOf(target).update(function addOneCrew (data) {
    assertNameFree(data, crewName)
    const secret = generateSecret()
    data.crews[crewName] = {
      ...(crewDistricts === undefined ? {} : { districts: crewDistricts }),
      secretHash: hashSecret(secret),
      createdAt: new Date().toISOString(),
    }
    return { id: crewName, secret }
  })
}

/** Registers an operator account (HTTP API and console: all districts, all devices). */
export async function addOperator (target: RegistryTarget, name: string): Promise<Credential> {
  const operatorName = parseWith(idSchema, name, 'operator name')
  return registryStoreOf(target).update(function addOneOperator (data) {
    assertNameFree(data, operatorName)
    const secret = generateSecret()
    data.operators[operatorName] = { secretHash: hashSecret(secret), createdAt: new Date().toISOString() }
    return { id: operatorName, secret }
  })
}

/**
 * Registers every device of a CSV (`id,kind,district,lat,lon[,group]` with a header) or JSON-lines text.
 * All or nothing: one invalid or duplicate line refuses the whole import, naming the line. (The
 * cluster's store writes the devices one key each; cluster/registry-kv-writes.ts says what a crash
 * midway leaves.)
 */
export async function importDevices (target: RegistryTarget, text: string): Promise<Credential[]> {
  const devices = parseImport(text)
  return registryStoreOf(target).update(function addMany (data) {
    return registerDevices(data, devices)
  })
}

export function parseImport (text: string): DeviceInput[] {
  const firstLine = text.trimStart().split('\n', 1)[0] ?? ''
  return firstLine.startsWith('{') ? parseJsonLines(text) : parseCsvText(text)
}

function parseJsonLines (text: string): DeviceInput[] {
  const devices: DeviceInput[] = []
  const lines = text.split('\n')
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      throw new GatewayError('CSG_IMPORT_INVALID', `line ${index + 1}: not valid JSON`)
    }
    devices.push(parseDeviceInput(value, `line ${index + 1}`))
  }
  return devices
}

function parseCsvText (text: string): DeviceInput[] {
  let rows: Record<string, string>[]
  try {
    rows = parseCsv<Record<string, string>>(text, { columns: true, skip_empty_lines: true, trim: true })
  } catch (err) {
    throw new GatewayError('CSG_IMPORT_INVALID', `CSV: ${(err as Error).message}`, { cause: err })
  }
  return rows.map(function toDevice (row, index) {
    const withoutBlanks = Object.fromEntries(Object.entries(row).filter(function isSet ([, v]) { return v !== '' }))
    return parseDeviceInput(withoutBlanks, `line ${index + 2}`) // +1 header, +1 one-based
  })
}

function registerDevices (data: RegistryData, devices: DeviceInput[]): Credential[] {
  const seen = new Set<string>()
  for (const device of devices) {
    if (seen.has(device.id)) throw new GatewayError('CSG_IMPORT_INVALID', `device ${device.id} appears twice`)
    seen.add(device.id)
    assertNameFree(data, device.id)
  }
  const createdAt = new Date().toISOString()
  return devices.map(function register (device) {
    const secret = generateSecret()
    data.devices[device.id] = {
      kind: device.kind,
      district: device.district,
      ...(device.lat === undefined ? {} : { lat: device.lat }),
      ...(device.lon === undefined ? {} : { lon: device.lon }),
      ...(device.group === undefined ? {} : { group: device.group }),
      secretHash: hashSecret(secret),
      createdAt,
    }
    return { id: device.id, secret }
  })
}

/** Devices, crews, operators and consumers share one namespace: a username must say which one it is. */
export function assertNameFree (data: RegistryData, name: string): void {
  if (Object.hasOwn(data.devices, name) || Object.hasOwn(data.crews, name) || Object.hasOwn(data.operators, name) || Object.hasOwn(data.consumers, name)) {
    throw new GatewayError('CSG_REGISTRY_CONFLICT', `${name} is already registered`)
  }
}

function parseDeviceInput (value: unknown, where: string): DeviceInput {
  const parsed = deviceInputSchema.safeParse(value)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map(function describe (i) { return `${i.path.join('.')}: ${i.message}` })
  throw new GatewayError('CSG_IMPORT_INVALID', `${where}: ${problems.join('; ')}`)
}

function parseWith<T> (schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value)
  if (parsed.success) return parsed.data
  throw new GatewayError('CSG_REGISTRY_INVALID', `${what} ${String(value)} ${parsed.error.issues[0]?.message ?? 'is invalid'}`)
}
