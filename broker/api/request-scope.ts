// An authenticated API request in; the ConsumerScope its answer is filtered through out. The one
// place that decides who sees what over HTTP: routes that serve scoped data ask this and nothing else.
import type { FastifyRequest } from 'fastify'
import { scopeOfAccount } from '../consumers/account-scope.ts'
import type { ConsumerScope } from '../consumers/scope.ts'
import type { ApiContext } from './context.ts'

export type ScopeOfRequest = (request: FastifyRequest) => ConsumerScope | undefined

export function createScopeOfRequest (ctx: Pick<ApiContext, 'principalOf'>): ScopeOfRequest {
  return function scopeOfRequest (request) {
    const principal = ctx.principalOf(request)
    return scopeOfAccount(principal.role, principal.districts)
  }
}
