// The hooks' table of connections: identity per connection, connections per name, forgotten on close.
import type { Client } from 'aedes'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { Identity } from '../../../../broker/mqtt/authenticate.ts'
import { createClientTable, nameOf } from '../../../../broker/mqtt/hooks/client-table.ts'

const log = pino({ level: 'silent' })
const crew: Identity = { role: 'crew', name: 'crew-north', districts: ['north'], log }

describe('client table', () => {
  it('tracks the connections of a name until each closes', () => {
    const table = createClientTable()
    const phoneA = { id: 'a' } as Client
    const phoneB = { id: 'b' } as Client
    table.admit(phoneA, crew)
    table.admit(phoneB, crew)
    expect(nameOf(crew)).toBe('crew-north')
    expect(table.identityOf(phoneA)).toBe(crew)
    expect(table.identityOf(null)).toBeUndefined()
    expect([...table.connectionsOf('crew-north')]).toEqual([phoneA, phoneB])
    table.forget(phoneA)
    expect([...table.connectionsOf('crew-north')]).toEqual([phoneB])
    table.forget(phoneB)
    table.forget({ id: 'never-admitted' } as Client)
    expect([...table.connectionsOf('crew-north')]).toEqual([])
  })
})
