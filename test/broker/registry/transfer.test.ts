// `registry export|import` on registry.json: entries move with their hashes; an import is all or
// nothing and never takes another secret for a registered id without `replace`.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isGatewayError } from '../../../broker/errors.ts'
import { addConsumer } from '../../../broker/consumers/provision.ts'
import { addCrew, addDevice, addOperator } from '../../../broker/registry/provision.ts'
import { emptyRegistry, type RegistryData } from '../../../broker/registry/schema.ts'
import { hashSecret, verifySecret } from '../../../broker/registry/secrets.ts'
import { readRegistry, registryPath } from '../../../broker/registry/store.ts'
import { exportRegistry, importRegistry } from '../../../broker/registry/transfer.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

let dir: string
let source: string
let target: string
beforeEach(async () => {
  dir = await makeTempDir('citygw-transfer-')
  source = registryPath(`${dir}/source`)
  target = registryPath(`${dir}/target`)
})
afterEach(async () => { await removeTempDir(dir) })

async function refusal (promise: Promise<unknown>): Promise<Error> {
  const err = await promise.then(() => undefined, (e: unknown) => e)
  expect(isGatewayError(err, 'CSG_REGISTRY_CONFLICT'), String(err)).toBe(true)
  return err as Error
}

describe('registry export / import', () => {
  it('moves every entry with its hash; the secrets still verify; a second import changes nothing', async () => {
    const device = await addDevice(source, { id: 'lp.1', kind: 'lamp-post', district: 'n', lat: 1, lon: 2 })
    const crew = await addCrew(source, 'crew-a', ['n'])
    const operator = await addOperator(source, 'op')
    const consumer = await addConsumer(source, 'portal', { districts: ['n'], location: 'none' })
    const exported = await exportRegistry(source)

    expect(await importRegistry(target, exported, { replace: false })).toEqual({
      device: { added: 1, replaced: 0, updated: 0, unchanged: 0 },
      crew: { added: 1, replaced: 0, updated: 0, unchanged: 0 },
      operator: { added: 1, replaced: 0, updated: 0, unchanged: 0 },
      consumer: { added: 1, replaced: 0, updated: 0, unchanged: 0 },
    })
    const imported = await readRegistry(target)
    expect(imported).toEqual(exported)
    expect(verifySecret(device.secret, imported.devices['lp.1']!.secretHash)).toBe(true)
    expect(verifySecret(crew.secret, imported.crews['crew-a']!.secretHash)).toBe(true)
    expect(verifySecret(operator.secret, imported.operators.op!.secretHash)).toBe(true)
    expect(verifySecret(consumer.token, imported.consumers.portal!.secretHash)).toBe(true)
    expect(imported.consumers.portal?.scope).toEqual({ districts: ['n'], location: 'none' })

    const again = await importRegistry(target, exported, { replace: false })
    expect(again.device).toEqual({ added: 0, replaced: 0, updated: 0, unchanged: 1 })
  })

  it('takes other details of a registered id with the same secret, and keeps entries the file does not name', async () => {
    await addDevice(source, { id: 'd1', kind: 'manhole', district: 'n' })
    await importRegistry(target, await exportRegistry(source), { replace: false })
    await addDevice(target, { id: 'only-here', kind: 'manhole', district: 'n' })
    const moved = await exportRegistry(source)
    moved.devices.d1!.district = 's'
    expect((await importRegistry(target, moved, { replace: false })).device).toEqual({ added: 0, replaced: 0, updated: 1, unchanged: 0 })
    const result = await readRegistry(target)
    expect(result.devices.d1?.district).toBe('s')
    expect(result.devices['only-here']).toBeDefined()
  })

  it('refuses ids registered with another secret unless replace, and names as another kind always, writing nothing', async () => {
    await addDevice(target, { id: 'd1', kind: 'manhole', district: 'n' })
    await addCrew(target, 'shared')
    const before = await readRegistry(target)
    const incoming: RegistryData = emptyRegistry()
    const record = { kind: 'manhole' as const, district: 'n', secretHash: hashSecret('other'), createdAt: 'then' }
    incoming.devices = { d1: record, fresh: record }
    const err = await refusal(importRegistry(target, incoming, { replace: false }))
    expect(err.message).toMatch(/d1 \(another secret\)/)
    expect(err.message).toMatch(/--replace/)
    expect(await readRegistry(target)).toEqual(before)

    expect((await importRegistry(target, incoming, { replace: true })).device).toEqual({ added: 1, replaced: 1, updated: 0, unchanged: 0 })
    expect((await readRegistry(target)).devices.d1?.secretHash).toBe(record.secretHash)

    const asDevice = emptyRegistry()
    asDevice.devices = { shared: record }
    expect((await refusal(importRegistry(target, asDevice, { replace: true }))).message).toMatch(/shared \(a crew here, a device in the file\)/)
  })

  it('names ten conflicts and counts the rest', async () => {
    const incoming = emptyRegistry()
    for (let i = 0; i < 25; i++) {
      await addDevice(target, { id: `c${i}`, kind: 'manhole', district: 'n' })
      incoming.devices[`c${i}`] = { kind: 'manhole', district: 'n', secretHash: hashSecret('x'), createdAt: 'then' }
    }
    const err = await refusal(importRegistry(target, incoming, { replace: false }))
    expect(err.message).toMatch(/^25 entries .*c9 \(another secret\) and 15 more/)
  })
})
