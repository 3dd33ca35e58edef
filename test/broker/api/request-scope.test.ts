// The one scope per caller, over HTTP (principal) and MQTT (identity set at CONNECT).
import { describe, expect, it } from 'vitest'
import { scopeOfPrincipal } from '../../../broker/api/request-scope.ts'
import { scopeOfClient } from '../../../broker/mqtt/client-scope.ts'
import { createLogger } from '../../../broker/log.ts'

describe('the scope a caller is served with', () => {
  it('over HTTP: consumers their own, crews their districts exactly, operators none', () => {
    const scope = { districts: ['north'], fields: ['pressure'], location: 'coarse' } as const
    expect(scopeOfPrincipal({ name: 'portal', role: 'consumer', districts: ['north'], scope: { ...scope, districts: [...scope.districts], fields: [...scope.fields] } })).toEqual(scope)
    expect(scopeOfPrincipal({ name: 'crew-n', role: 'crew', districts: ['north'] })).toEqual({ districts: ['north'], location: 'exact' })
    expect(scopeOfPrincipal({ name: 'crew-all', role: 'crew', districts: undefined })).toEqual({ location: 'exact' })
    expect(scopeOfPrincipal({ name: 'ops', role: 'operator', districts: undefined })).toBeUndefined()
  })

  it('over MQTT: the same for consumers and crews', () => {
    const log = createLogger('silent')
    expect(scopeOfClient({ role: 'consumer', name: 'portal', scope: { kinds: ['manhole'], location: 'none' }, log })).toEqual({ kinds: ['manhole'], location: 'none' })
    expect(scopeOfClient({ role: 'crew', name: 'crew-n', districts: ['north'], log })).toEqual({ districts: ['north'], location: 'exact' })
  })
})
