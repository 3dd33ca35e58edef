// GET /api/console/settings: what the crew console needs from the gateway's configuration to draw
// its map (tile URL and attribution, or none for the offline drawing) and its navigate links.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DEFAULT_MAP_NAV_URL } from '../config.ts'
import type { ApiContext, ConsoleSettings } from './context.ts'
import { errors } from './schemas.ts'

const NO_MAP: ConsoleSettings = { mapTileUrl: null, mapAttribution: null, mapsUrl: DEFAULT_MAP_NAV_URL }

export function registerConsoleRoutes (app: FastifyInstance, ctx: ApiContext, requireAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void {
  const settings = ctx.console ?? NO_MAP
  app.get('/api/console/settings', {
    onRequest: requireAuth,
    schema: {
      summary: 'Map tiles and web map links for the crew console',
      tags: ['console'],
      response: { 200: { $ref: 'ConsoleSettings#' }, ...errors(401, 429) },
    },
  }, function consoleSettings () {
    return settings
  })
}
