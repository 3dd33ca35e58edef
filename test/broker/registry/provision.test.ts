import { stat, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isGatewayError } from '../../../broker/errors.ts'
import { addCrew, addDevice, importDevices, parseImport, removeDevice } from '../../../broker/registry/provision.ts'
import { verifySecret } from '../../../broker/registry/secrets.ts'
import { readRegistry, registryPath } from '../../../broker/registry/store.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

let dir: string
let file: string
beforeEach(async () => {
  dir = await makeTempDir('citygw-registry-')
  file = registryPath(dir)
})
afterEach(async () => { await removeTempDir(dir) })

async function expectCode (promise: Promise<unknown>, code: string, text?: RegExp): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(isGatewayError(err), String(err)).toBe(true)
  expect((err as { code: string }).code).toBe(code)
  if (text !== undefined) expect((err as Error).message).toMatch(text)
}

describe('device registration', () => {
  it('stores only a salted hash of a ≥128-bit secret, in a 0600 file', async () => {
    const { id, secret } = await addDevice(file, { id: 'lp-1', kind: 'lamp-post', district: 'north', lat: 52.1, lon: 4.3 })
    expect(id).toBe('lp-1')
    expect(Buffer.from(secret, 'base64url').length * 8).toBeGreaterThanOrEqual(128)
    const text = await readFile(file, 'utf8')
    expect(text).not.toContain(secret)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const data = await readRegistry(file)
    const record = data.devices['lp-1']
    expect(record).toMatchObject({ kind: 'lamp-post', district: 'north', lat: 52.1, lon: 4.3 })
    expect(verifySecret(secret, record!.secretHash)).toBe(true)
    expect(verifySecret(`${secret}x`, record!.secretHash)).toBe(false)
  })

  it('gives two devices different salts even with the same secret', async () => {
    const a = await addDevice(file, { id: 'a', kind: 'manhole', district: 'n' })
    const b = await addDevice(file, { id: 'b', kind: 'manhole', district: 'n' })
    const data = await readRegistry(file)
    expect(a.secret).not.toBe(b.secret)
    expect(data.devices.a!.secretHash.split('$')[1]).not.toBe(data.devices.b!.secretHash.split('$')[1])
  })

  it.each([
    ['bad id', { id: 'has space', kind: 'manhole', district: 'n' }, /id/],
    ['id too long', { id: 'x'.repeat(65), kind: 'manhole', district: 'n' }, /id/],
    ['reserved id', { id: '__proto__', kind: 'manhole', district: 'n' }, /reserved/],
    ['unknown kind', { id: 'x', kind: 'toaster', district: 'n' }, /kind/],
    ['bad district', { id: 'x', kind: 'manhole', district: 'a/b' }, /district/],
    ['lat without lon', { id: 'x', kind: 'manhole', district: 'n', lat: 1 }, /lat/],
    ['lat out of range', { id: 'x', kind: 'manhole', district: 'n', lat: 91, lon: 0 }, /lat/],
  ])('refuses %s', async (_name, input, text) => {
    await expectCode(addDevice(file, input), 'CSG_IMPORT_INVALID', text)
  })

  it('refuses a duplicate id, also across devices and crews', async () => {
    await addDevice(file, { id: 'd1', kind: 'manhole', district: 'n' })
    await expectCode(addDevice(file, { id: 'd1', kind: 'manhole', district: 'n' }), 'CSG_REGISTRY_CONFLICT')
    await expectCode(addCrew(file, 'd1'), 'CSG_REGISTRY_CONFLICT')
  })

  it('removes a device and reports an unknown one', async () => {
    await addDevice(file, { id: 'd1', kind: 'manhole', district: 'n' })
    await removeDevice(file, 'd1')
    expect((await readRegistry(file)).devices).toEqual({})
    await expectCode(removeDevice(file, 'd1'), 'CSG_REGISTRY_NOT_FOUND')
  })

  it('serialises concurrent writers through the lock file', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => addDevice(file, { id: `c${i}`, kind: 'water-pipe', district: 'n' })))
    expect(Object.keys((await readRegistry(file)).devices)).toHaveLength(20)
  })
})

describe('crews', () => {
  it('registers a crew with districts', async () => {
    const { secret } = await addCrew(file, 'crew-north', ['north', 'east'])
    const crew = (await readRegistry(file)).crews['crew-north']
    expect(crew?.districts).toEqual(['north', 'east'])
    expect(verifySecret(secret, crew!.secretHash)).toBe(true)
  })
})

describe('import', () => {
  it('imports CSV with a header and JSON lines', async () => {
    const csv = 'id,kind,district,lat,lon\nlp-1,lamp-post,north,52.1,4.3\nmh-1,manhole,south,,\n'
    const fromCsv = await importDevices(file, csv)
    expect(fromCsv.map((c) => c.id)).toEqual(['lp-1', 'mh-1'])
    const jsonl = '{"id":"wp-1","kind":"water-pipe","district":"east"}\n{"id":"wp-2","kind":"water-pipe","district":"east","lat":1,"lon":2}\n'
    const fromJson = await importDevices(file, jsonl)
    expect(fromJson.map((c) => c.id)).toEqual(['wp-1', 'wp-2'])
    const data = await readRegistry(file)
    expect(Object.keys(data.devices).sort()).toEqual(['lp-1', 'mh-1', 'wp-1', 'wp-2'])
    expect(data.devices['mh-1']?.lat).toBeUndefined()
  })

  it('keeps a device group from a CSV column, a JSON field or the add options, and refuses a bad one', async () => {
    await importDevices(file, 'id,kind,district,lat,lon,group\nlp-1,lamp-post,north,52.1,4.3,feeder-12\nlp-2,lamp-post,north,,,\n')
    await importDevices(file, '{"id":"wp-1","kind":"water-pipe","district":"east","group":"zone-3"}\n')
    await addDevice(file, { id: 'mh-1', kind: 'manhole', district: 'south', group: 'sewer-7' })
    const data = await readRegistry(file)
    expect([data.devices['lp-1']?.group, data.devices['lp-2']?.group, data.devices['wp-1']?.group, data.devices['mh-1']?.group]).toEqual(['feeder-12', undefined, 'zone-3', 'sewer-7'])
    await expectCode(importDevices(file, 'id,kind,district,group\nlp-9,lamp-post,north,feeder 12\n'), 'CSG_IMPORT_INVALID', /line 2/)
  })

  it('refuses the whole import for one bad line and names it', async () => {
    const csv = 'id,kind,district,lat,lon\nok-1,lamp-post,north,,\nbad 2,lamp-post,north,,\n'
    await expectCode(importDevices(file, csv), 'CSG_IMPORT_INVALID', /line 3/)
    await expectCode(importDevices(file, '{"id":"a","kind":"manhole","district":"n"}\n{"id":"b","kind":"x","district":"n"}\n'), 'CSG_IMPORT_INVALID', /line 2/)
    await expectCode(importDevices(file, '{"id":"a","kind":"manhole","district":"n"}\n{"id":"a","kind":"manhole","district":"n"}\n'), 'CSG_IMPORT_INVALID', /twice/)
    expect((await readRegistry(file)).devices).toEqual({})
  })

  it('imports 10,000 devices', async () => {
    const lines = ['id,kind,district,lat,lon']
    for (let i = 0; i < 10_000; i++) lines.push(`dev-${i},manhole,d${i % 10},${(i % 90).toFixed(1)},1.5`)
    const credentials = await importDevices(file, lines.join('\n'))
    expect(credentials).toHaveLength(10_000)
    expect(new Set(credentials.map((c) => c.secret)).size).toBe(10_000)
    expect(Object.keys((await readRegistry(file)).devices)).toHaveLength(10_000)
  })

  it('detects the format from the first line', () => {
    expect(parseImport('{"id":"a","kind":"manhole","district":"n"}')).toHaveLength(1)
    expect(parseImport('id,kind,district\na,manhole,n')).toHaveLength(1)
  })
})

describe('registry file', () => {
  it('lives in DATA_DIR', () => {
    expect(file).toBe(join(dir, 'registry.json'))
  })
})
