// A crew's or operator's account in; the ConsumerScope it is served with out. Crews see their
// districts with exact locations (all districts when the crew has none listed); operators see
// everything, unfiltered (undefined).
import type { ConsumerScope } from './scope.ts'

export function scopeOfAccount (role: 'crew' | 'operator', districts: readonly string[] | undefined): ConsumerScope | undefined {
  if (role === 'operator') return undefined
  return districts === undefined ? { location: 'exact' } : { districts: [...districts], location: 'exact' }
}
