// The registry bucket's key layout and value decoding, without a server: every valid id maps to a
// valid KV key of exactly two tokens and back, and unusable values are named, not thrown.
import { validateKey } from '@nats-io/kv/internal'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeRegistryEntry, encodeRecord, parseRegistryKey, registryKey } from '../../../broker/cluster/registry-kv-entries.ts'
import { ENTRY_KINDS } from '../../../broker/registry/entries.ts'
import { idSchema } from '../../../broker/registry/schema.ts'
import { hashSecret } from '../../../broker/registry/secrets.ts'

const idArbitrary = fc.string({ unit: fc.constantFrom(...'Aa09._-'.split('')), minLength: 1, maxLength: 64 })
  .filter((id) => idSchema.safeParse(id).success)

function entry (key: string, value: string, operation: 'PUT' | 'DEL' = 'PUT'): { key: string; operation: 'PUT' | 'DEL' | 'PURGE'; string(): string } {
  return { key, operation, string () { return value } }
}

describe('registry keys', () => {
  it.each([
    ['a..b', 'device.a==b'],
    ['.x', 'device.=x'],
    ['x.', 'device.x='],
    ['...', 'device.==='],
    ['lp-1_a', 'device.lp-1_a'],
  ])('writes %s as %s', (id, key) => {
    expect(registryKey('device', id)).toBe(key)
    expect(() => { validateKey(key) }).not.toThrow()
    expect(parseRegistryKey(key)).toEqual({ kind: 'device', name: id })
  })

  it('maps every valid id of every kind to a valid two-token key and back', () => {
    fc.assert(fc.property(fc.constantFrom(...ENTRY_KINDS), idArbitrary, (kind, id) => {
      const key = registryKey(kind, id)
      validateKey(key)
      expect(key.split('.')).toHaveLength(2)
      expect(parseRegistryKey(key)).toEqual({ kind, name: id })
    }), { numRuns: 2000 })
  })

  it('refuses names no id can be, and reads no key outside the layout', () => {
    expect(() => registryKey('device', 'a=b')).toThrow(/cannot be a registry key/)
    expect(() => registryKey('device', '')).toThrow(/cannot be a registry key/)
    for (const key of ['device', 'device.a.b', 'sensor.a', 'device.__proto__', `device.${'x'.repeat(65)}`]) {
      expect(parseRegistryKey(key), key).toBeUndefined()
    }
  })
})

describe('registry values', () => {
  const record = { kind: 'manhole', district: 'n', secretHash: hashSecret('s'), createdAt: '2026-01-01T00:00:00.000Z' }

  it('decodes a stored record, and a deleted key as absent', () => {
    expect(decodeRegistryEntry(entry('device.m=1', encodeRecord('device', 'm.1', record as never)))).toEqual({ kind: 'device', name: 'm.1', record })
    expect(decodeRegistryEntry(entry('device.m=1', '', 'DEL'))).toEqual({ kind: 'device', name: 'm.1', record: undefined })
  })

  it('names the problem of an unusable value and counts it as absent', () => {
    expect(decodeRegistryEntry(entry('crew.c', '{'))).toEqual({ kind: 'crew', name: 'c', record: undefined, problem: 'value is not JSON' })
    expect(decodeRegistryEntry(entry('device.d', JSON.stringify({ ...record, secretHash: 'plain' })))).toMatchObject({ record: undefined, problem: expect.stringMatching(/secretHash/) as string })
    expect(decodeRegistryEntry(entry('elsewhere.d', '{}'))).toBeUndefined()
  })

  it('refuses to store a record its schema refuses', () => {
    expect(() => encodeRecord('device', 'd', { ...record, kind: 'toaster' } as never)).toThrow(/device d: kind/)
  })
})
