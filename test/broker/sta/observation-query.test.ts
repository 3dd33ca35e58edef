// What of a $filter reaches InfluxDB: the phenomenonTime window (date-times, whole days for
// dates, the 24-hour default, the 31-day limit) and a Datastream's result comparisons; the rest is
// left to evaluation, which then makes $count a 501.
import { describe, expect, it } from 'vitest'
import type { InfluxQlClient } from '../../../broker/api/influxql.ts'
import type { DeviceRecord } from '../../../broker/registry/schema.ts'
import { createObservationReader } from '../../../broker/sta/observation-reader.ts'
import { queryObservations } from '../../../broker/sta/observation-query.ts'
import { parseQueryString } from '../../../broker/sta/query-options.ts'
import { createRegistryModel } from '../../../broker/sta/registry-model.ts'

const NOW = Date.parse('2026-12-01T12:00:00Z')
const devices = new Map<string, DeviceRecord>([['lamp-n', { kind: 'lamp-post', district: 'north', secretHash: 's256$x', createdAt: '2026-01-01T00:00:00.000Z' }]])
const model = createRegistryModel({ getDevice: (id) => devices.get(id), listDevices: () => devices.entries() }, undefined)

async function statementsFor (search: string, field = 'activePower'): Promise<string[]> {
  const statements: string[] = []
  const influx: InfluxQlClient = { query (q) { statements.push(q); return Promise.resolve([]) } }
  const device = model.device('lamp-n')!
  await queryObservations(createObservationReader(influx), model, { kind: 'datastream', device, field }, parseQueryString(search), NOW)
  return statements
}

const ms = (iso: string): number => Date.parse(iso)

describe('Observations query plan', () => {
  it('bounds the window by the filter\'s date-times, and by whole days for dates', async () => {
    expect((await statementsFor(`$filter=${encodeURIComponent('phenomenonTime gt 2026-11-30T10:00:00Z and phenomenonTime le 2026-11-30T11:00:00Z')}`))[0])
      .toContain(`time >= ${ms('2026-11-30T10:00:00Z') + 1}ms AND time <= ${ms('2026-11-30T11:00:00Z')}ms`)
    expect((await statementsFor(`$filter=${encodeURIComponent('phenomenonTime ge 2026-11-29 and resultTime lt 2026-11-30')}`))[0])
      .toContain(`time >= ${ms('2026-11-29T00:00:00Z')}ms AND time <= ${ms('2026-11-30T00:00:00Z') - 1}ms`)
    expect((await statementsFor(`$filter=${encodeURIComponent('phenomenonTime gt 2026-11-29 and phenomenonTime le 2026-11-30')}`))[0])
      .toContain(`time >= ${ms('2026-11-30T00:00:00Z')}ms AND time <= ${ms('2026-12-01T00:00:00Z') - 1}ms`)
    expect((await statementsFor(`$filter=${encodeURIComponent('phenomenonTime eq 2026-11-30T10:00:00Z')}`))[0])
      .toContain(`time >= ${ms('2026-11-30T10:00:00Z')}ms AND time <= ${ms('2026-11-30T10:00:00Z')}ms`)
  })

  it('defaults to the 24 hours before now (+5 min), and refuses more than 31 days', async () => {
    expect((await statementsFor(''))[0]).toContain(`time >= ${NOW + 300_000 - 86_400_000}ms AND time <= ${NOW + 300_000}ms`)
    expect((await statementsFor(`$filter=${encodeURIComponent('phenomenonTime lt 2026-11-01T00:00:00Z')}`))[0])
      .toContain(`time >= ${ms('2026-11-01T00:00:00Z') - 1 - 86_400_000}ms AND time <= ${ms('2026-11-01T00:00:00Z') - 1}ms`)
    await expect(statementsFor(`$filter=${encodeURIComponent('phenomenonTime ge 2026-10-01T00:00:00Z')}`)).rejects.toThrow(/more than 31 days/)
  })

  it('puts a Datastream\'s result comparisons into InfluxQL when the types agree', async () => {
    expect((await statementsFor('$filter=result gt 10 and 20 ge result'))[0]).toContain('AND "activePower" > 10 AND "activePower" <= 20 ORDER BY')
    expect((await statementsFor('$filter=result eq true', 'doorOpen'))[0]).toContain('AND "doorOpen" = true ORDER BY')
    // A boolean Datastream never has results above 5: left to evaluation, not sent as a type error.
    expect((await statementsFor('$filter=result gt 5', 'doorOpen'))[0]).not.toContain('"doorOpen" >')
    expect((await statementsFor('$filter=result gt 1e21'))[0]).not.toContain('"activePower" >')
  })

  it('answers $count from InfluxDB only when the whole filter went there', async () => {
    expect((await statementsFor('$count=true&$filter=result gt 10')).some((s) => s.startsWith('SELECT count("activePower")'))).toBe(true)
    await expect(statementsFor('$count=true&$filter=result mod 2 eq 0')).rejects.toThrow(/not implemented: \$count/)
  })
})

describe('Observations of one device, for a caller limited to districts', () => {
  it('reads and counts only the readings recorded in the caller\'s districts', async () => {
    const scoped = createRegistryModel({ getDevice: (id) => devices.get(id), listDevices: () => devices.entries() }, { districts: ['north'], location: 'coarse' })
    const device = scoped.device('lamp-n')!
    const statements: string[] = []
    const influx: InfluxQlClient = { query (q) { statements.push(q); return Promise.resolve([]) } }
    const reader = createObservationReader(influx)
    await queryObservations(reader, scoped, { kind: 'datastream', device, field: 'activePower' }, parseQueryString('$count=true'), NOW)
    await queryObservations(reader, scoped, { kind: 'feature', device }, parseQueryString('$count=true'), NOW)
    expect(statements.length).toBeGreaterThanOrEqual(4)
    for (const statement of statements) expect(statement).toMatch(/"device_id" = 'lamp-n' AND \("district" = 'north'\)/)
    // Unscoped (operators): the device's readings wherever they were recorded.
    statements.length = 0
    await queryObservations(reader, model, { kind: 'datastream', device: model.device('lamp-n')!, field: 'activePower' }, parseQueryString('$count=true'), NOW)
    for (const statement of statements) expect(statement).not.toContain('"district"')
  })
})
