// The latest-values table behind GET /api/devices: newest reading time wins per field, partial
// readings merge, a backfilled batch never replaces newer values, and connections are counted.
import { describe, expect, it } from 'vitest'
import { createDeviceTable } from '../../../broker/api/device-table.ts'
import { kinds } from '../../../devices/index.ts'

const lamp = kinds['lamp-post'].fieldNames
const pipe = kinds['water-pipe'].fieldNames

describe('device table', () => {
  it('keeps the newest value of each field, in the kind\'s field order', () => {
    let clock = 1_000
    const table = createDeviceTable(() => clock)
    table.onReadings('lp-1', lamp, [{ tsMs: 10, values: { supplyVoltage: 230, commandedLevel: 40 } }])
    clock = 2_000
    table.onReadings('lp-1', lamp, [
      { tsMs: 30, values: { commandedLevel: 60 } },
      { tsMs: 20, values: { commandedLevel: 50, activePower: 12.5 } }, // older: only fills what is missing
    ])
    table.onReadings('lp-1', lamp, [{ tsMs: 5, values: { supplyVoltage: 1, doorOpen: true } }]) // backfill
    const life = table.get('lp-1')
    expect(life?.lastSeenMs).toBe(2_000)
    expect([...life?.latest ?? []]).toEqual(lamp.filter((f) => ['commandedLevel', 'activePower', 'supplyVoltage', 'doorOpen'].includes(f)).map((field) => [field, {
      commandedLevel: { value: 60, tsMs: 30 },
      activePower: { value: 12.5, tsMs: 20 },
      supplyVoltage: { value: 230, tsMs: 10 },
      doorOpen: { value: true, tsMs: 5 },
    }[field]]))
  })

  it('starts afresh when the device comes back as another kind, and forgets removed devices', () => {
    const table = createDeviceTable(() => 0)
    table.onReadings('dev-1', lamp, [{ tsMs: 10, values: { commandedLevel: 40 } }])
    table.onReadings('dev-1', pipe, [{ tsMs: 11, values: { pressure: 3.2 } }])
    expect([...table.get('dev-1')?.latest ?? []]).toEqual([['pressure', { value: 3.2, tsMs: 11 }]])
    table.forget('dev-1')
    expect(table.get('dev-1')).toBeUndefined()
  })

  it('counts open connections, never below zero', () => {
    const table = createDeviceTable()
    table.onConnected('lp-2')
    table.onConnected('lp-2')
    table.onDisconnected('lp-2')
    expect(table.get('lp-2')).toMatchObject({ connections: 1, lastSeenMs: undefined })
    table.onDisconnected('lp-2')
    table.onDisconnected('lp-2')
    expect(table.get('lp-2')?.connections).toBe(0)
  })
})
