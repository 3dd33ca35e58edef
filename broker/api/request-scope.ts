// The caller the auth hooks resolved for a request, and the one ConsumerScope every data route
// (/api devices, /sta/v1.1) filters through: consumers their own scope, crews their districts with
// exact locations, operators none (undefined = everything, exact).
import type { FastifyRequest } from 'fastify'
import { scopeOfAccount } from '../consumers/account-scope.ts'
import type { ConsumerScope } from '../consumers/scope.ts'
import type { Principal } from './auth.ts'

// Keyed by the request object: an entry lives exactly as long as its request.
const principals = new WeakMap<FastifyRequest, Principal>()
const resultRows = new WeakMap<FastifyRequest, number>()

export function setPrincipal (request: FastifyRequest, principal: Principal): void {
  principals.set(request, principal)
}

/** The authenticated caller; undefined on a route without the auth hook or before it ran. */
export function principalOfRequest (request: FastifyRequest): Principal | undefined {
  return principals.get(request)
}

export function scopeOfPrincipal (principal: Principal): ConsumerScope | undefined {
  if (principal.role === 'consumer') return principal.scope
  return scopeOfAccount(principal.role, principal.districts)
}

/**
 * What the caller of a request may see: its consumer scope, `{ districts, location: 'exact' }` for a
 * crew, undefined for an operator. Throws on a route that lacks the auth hook, so a route that
 * forgot it fails loudly instead of serving everything.
 */
export function scopeOfRequest (request: FastifyRequest): ConsumerScope | undefined {
  const principal = principals.get(request)
  if (principal === undefined) throw new Error(`${request.url}: route lacks the auth hook`)
  return scopeOfPrincipal(principal)
}

export type ScopeOfRequest = (request: FastifyRequest) => ConsumerScope | undefined

/** scopeOfRequest through a context's principalOf, for route modules handed the API context. */
export function createScopeOfRequest (ctx: { principalOf(request: FastifyRequest): Principal }): ScopeOfRequest {
  return function scopeOfRequestVia (request) { return scopeOfPrincipal(ctx.principalOf(request)) }
}

/** Records how many entities or points a route returned, for the consumer's `access` point. */
export function noteResultRows (request: FastifyRequest, rows: number): void {
  resultRows.set(request, rows)
}

export function resultRowsOf (request: FastifyRequest): number | undefined {
  return resultRows.get(request)
}
