import fc from 'fast-check'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { isGatewayError } from '../../../broker/errors.ts'
import { createFieldCipher, keyIdOf } from '../../../broker/crypto/field-cipher.ts'
import { createKeyFile, newKeyFile, readKeyFile, withNewKey } from '../../../broker/crypto/key-file.ts'

function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return isGatewayError(err) ? err.code : 'not a GatewayError'
  }
}

describe('field cipher', () => {
  const keys = newKeyFile()
  const cipher = createFieldCipher(keys)

  it('round-trips any string, and never shows it in the sealed form', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 600 }), fc.constantFrom('ackedBy', 'ackNote', 'sessionName', 'mail') , (value, field) => {
      const sealed = cipher.seal(field, value)
      expect(sealed.startsWith(`enc1:${keys.current}:`)).toBe(true)
      if (value.length >= 4) expect(sealed.includes(value)).toBe(false)
      expect(cipher.open(field, sealed)).toBe(value)
    }))
  })

  it('seals the same value differently each time (random IV)', () => {
    expect(cipher.seal('ackedBy', 'crew-north')).not.toBe(cipher.seal('ackedBy', 'crew-north'))
  })

  it('reads clear text written before encryption as it is', () => {
    expect(cipher.open('ackNote', 'valve closed')).toBe('valve closed')
  })

  it('rejects a tampered ciphertext, whichever byte changed', () => {
    const sealed = cipher.seal('ackNote', 'valve closed at 03:10')
    const body = Buffer.from(sealed.split(':')[2] as string, 'base64url')
    fc.assert(fc.property(fc.integer({ min: 0, max: body.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, flip) => {
      const altered = Buffer.from(body)
      altered[index] = (altered[index] as number) ^ flip
      expect(codeOf(() => cipher.open('ackNote', `enc1:${keys.current}:${altered.toString('base64url')}`))).toBe('CSG_DATA_UNREADABLE')
    }))
  })

  it('rejects a ciphertext moved to another field (AAD)', () => {
    const sealed = cipher.seal('ackNote', 'crew-north')
    expect(codeOf(() => cipher.open('ackedBy', sealed))).toBe('CSG_DATA_UNREADABLE')
  })

  it('names a key id the key file does not hold', () => {
    const other = createFieldCipher(newKeyFile())
    const sealed = other.seal('ackedBy', 'crew-north')
    expect(codeOf(() => cipher.open('ackedBy', sealed))).toBe('CSG_DATA_KEY_MISSING')
  })

  it('rejects a value relabelled with another key id of the same file', () => {
    const rotated = createFieldCipher(withNewKey(keys))
    const sealed = rotated.seal('ackedBy', 'crew-north')
    const relabelled = `enc1:${keys.current}:${sealed.split(':')[2] as string}`
    expect(codeOf(() => rotated.open('ackedBy', relabelled))).toBe('CSG_DATA_UNREADABLE')
  })

  it('after rotation opens old values and reseals them with the new key', () => {
    const rotatedFile = withNewKey(keys)
    const rotated = createFieldCipher(rotatedFile)
    const old = cipher.seal('ackedBy', 'crew-north')
    expect(rotated.open('ackedBy', old)).toBe('crew-north')
    const resealed = rotated.reseal('ackedBy', old)
    expect(keyIdOf(resealed)).toBe(rotatedFile.current)
    expect(keyIdOf(resealed)).not.toBe(keys.current)
    expect(rotated.open('ackedBy', resealed)).toBe('crew-north')
    expect(keyIdOf(rotated.reseal('ackedBy', 'clear'))).toBe(rotatedFile.current)
  })
})

describe('key file', () => {
  let dir: string | undefined
  afterEach(async () => { if (dir !== undefined) await rm(dir, { recursive: true, force: true }) })

  it('is created 0600, never overwritten, and read back', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'csg-key-'))
    const file = path.join(dir, 'data.key')
    const content = newKeyFile()
    await createKeyFile(file, content)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await readKeyFile(file)).toEqual(content)
    const again = await createKeyFile(file, newKeyFile()).then(() => undefined, (err: unknown) => err)
    expect(isGatewayError(again, 'CSG_DATA_KEY_INVALID')).toBe(true)
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(content)
  })

  it('is refused when group or others may read it', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'csg-key-'))
    const file = path.join(dir, 'data.key')
    await createKeyFile(file, newKeyFile())
    await chmod(file, 0o640)
    const err = await readKeyFile(file).then(() => undefined, (e: unknown) => e)
    expect(isGatewayError(err, 'CSG_DATA_KEY_INVALID')).toBe(true)
    expect((err as Error).message).toContain('0640')
  })

  it('is refused when malformed', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'csg-key-'))
    const file = path.join(dir, 'data.key')
    await writeFile(file, JSON.stringify({ version: 1, current: 'a', keys: [{ id: 'a', key: 'c2hvcnQ=', createdAt: '' }] }), { mode: 0o600 })
    const err = await readKeyFile(file).then(() => undefined, (e: unknown) => e)
    expect(isGatewayError(err, 'CSG_DATA_KEY_INVALID')).toBe(true)
  })

  it('is undefined when missing', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'csg-key-'))
    expect(await readKeyFile(path.join(dir, 'none.key'))).toBeUndefined()
  })
})
