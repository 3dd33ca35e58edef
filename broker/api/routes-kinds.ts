// GET /api/kinds: the device kinds and their fields, as far as the caller's scope reaches (a
// consumer sees only its kinds and fields; crews and operators see every kind).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { kindNames } from '../../devices/index.ts'
import { seesField, seesKind } from '../consumers/scope.ts'
import { fieldsOf } from './kind-fields.ts'
import { noteResultRows, scopeOfRequest } from './request-scope.ts'
import { errors, kindListSchema } from './schemas.ts'

export function registerKindRoutes (app: FastifyInstance, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  app.get('/api/kinds', {
    onRequest: requireAuth,
    schema: {
      summary: 'Device kinds and their fields (units, labels) the caller may see',
      tags: ['devices'],
      response: { 200: kindListSchema, ...errors(401, 403, 429) },
    },
  }, function listKinds (request) {
    const scope = scopeOfRequest(request)
    const kinds = kindNames
      .filter(function inScope (kind) { return scope === undefined || seesKind(scope, kind) })
      .map(function describeKind (name) {
        return { name, fields: fieldsOf(name).filter(function fieldInScope (f) { return scope === undefined || seesField(scope, f.name) }) }
      })
    noteResultRows(request, kinds.length)
    return { kinds }
  })
}
