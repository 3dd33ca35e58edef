// Consumer scopes checked against devices/ (kinds, their fields, coarse by default), and consumers in
// registry.json: the token names its consumer and is stored only as a hash.
import { afterEach, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { addConsumer, consumerNameOfToken, parseScope, removeConsumer } from '../../../broker/consumers/provision.ts'
import { addCrew } from '../../../broker/registry/provision.ts'
import { verifySecret } from '../../../broker/registry/secrets.ts'
import { readRegistry } from '../../../broker/registry/store.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

let dir: string | undefined
afterEach(async () => { if (dir !== undefined) await removeTempDir(dir) })

describe('consumer scopes', () => {
  it('defaults to coarse locations and every district, kind and field', () => {
    expect(parseScope({})).toEqual({ location: 'coarse' })
  })

  it('checks kinds against devices/ and fields against the chosen kinds', () => {
    expect(parseScope({ kinds: ['manhole'], fields: ['coverAngle', 'h2s'], location: 'none' })).toEqual({ kinds: ['manhole'], fields: ['coverAngle', 'h2s'], location: 'none' })
    expect(() => parseScope({ kinds: ['toaster'] })).toThrow(/kind toaster/)
    expect(() => parseScope({ kinds: ['lamp-post'], fields: ['coverAngle'] })).toThrow(/field coverAngle is not a field of lamp-post/)
    expect(parseScope({ fields: ['coverAngle'] })).toEqual({ fields: ['coverAngle'], location: 'coarse' })
    expect(() => parseScope({ districts: ['a b'] })).toThrow(/district/)
    expect(() => parseScope({ location: 'street' })).toThrow(/location street/)
  })
})

describe('consumer provisioning', () => {
  it('stores only a hash of the token, which names its consumer', async () => {
    dir = await makeTempDir('citygw-consumer-')
    const file = join(dir, 'registry.json')
    const { name, token } = await addConsumer(file, 'open.data', { districts: ['north'] })
    expect(name).toBe('open.data')
    expect(consumerNameOfToken(token)).toBe('open.data')
    expect(token.length).toBeGreaterThan('open.data.'.length + 30)
    expect(await readFile(file, 'utf8')).not.toContain(token.slice('open.data.'.length))
    const record = (await readRegistry(file)).consumers['open.data']
    expect(record?.scope).toEqual({ districts: ['north'], location: 'coarse' })
    expect(verifySecret(token, record!.secretHash)).toBe(true)

    await addCrew(file, 'crew-1')
    await expect(addConsumer(file, 'crew-1', {})).rejects.toThrow(/already registered/)
    await removeConsumer(file, 'open.data')
    expect((await readRegistry(file)).consumers).toEqual({})
    await expect(removeConsumer(file, 'open.data')).rejects.toThrow(/no consumer/)
  })
})
