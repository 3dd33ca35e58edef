// Serves the built crew console (console/dist, `npm run build:console`) at `/`: hashed assets
// cached for a year; index.html, the service worker (/sw.js) and the web app manifest always
// revalidated (a new build must reach phones); with a same-origin-only content security policy:
// nothing is loaded from elsewhere except, with MAP_TILE_URL, map tile images from that one origin.
// Unbuilt: `/` says how to build it.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

/** The checkout's root (where package.json is): this module runs from broker/http/ or, built, from dist/broker/http/. */
function packageRoot (): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return dir
}

export const DEFAULT_CONSOLE_DIR = path.join(packageRoot(), 'console', 'dist')

/** The page's policy; `tileOrigin` (e.g. https://tile.example.org) is added to img-src alone. */
export function contentSecurityPolicy (tileOrigin?: string): string {
  const images = tileOrigin === undefined ? "'self' data:" : `'self' data: ${tileOrigin}`
  return `default-src 'self'; img-src ${images}; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`
}

/** The origin tiles come from; a template's `{s}` subdomain becomes a `*.` wildcard. */
export function tileOriginOf (tileUrl: string): string {
  const wildcard = tileUrl.replace(/^(https?:\/\/)\{s\}\./, '$1wildcard-subdomain.')
  const url = new URL(wildcard.replace(/\{[a-z]+\}/g, '0'))
  return url.origin.replace('//wildcard-subdomain.', '//*.')
}

/** Types browsers insist on: a service worker must be JavaScript, a manifest its own JSON type. */
const EXACT_TYPES: Record<string, string> = {
  'sw.js': 'text/javascript; charset=utf-8',
  'manifest.webmanifest': 'application/manifest+json; charset=utf-8',
}

export async function registerConsole (app: FastifyInstance, distDir: string = DEFAULT_CONSOLE_DIR, mapTileUrl?: string | null): Promise<void> {
  const CSP = contentSecurityPolicy(mapTileUrl === undefined || mapTileUrl === null ? undefined : tileOriginOf(mapTileUrl))
  if (!existsSync(path.join(distDir, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, function consoleMissing (_request, reply) {
      return reply.code(503).type('text/plain; charset=utf-8').send('The console is not built: run `npm run build:console`.\n')
    })
    return
  }
  await app.register(fastifyStatic, {
    root: distDir,
    prefix: '/',
    index: ['index.html'],
    wildcard: false,
    cacheControl: false,
    setHeaders (reply, filePath) {
      void reply.header('content-security-policy', CSP)
      void reply.header('x-content-type-options', 'nosniff')
      void reply.header('referrer-policy', 'no-referrer')
      const isHashed = filePath.includes(`${path.sep}assets${path.sep}`)
      void reply.header('cache-control', isHashed ? 'public, max-age=31536000, immutable' : 'no-cache')
      const type = EXACT_TYPES[path.basename(filePath)]
      if (type !== undefined) void reply.header('content-type', type)
    },
  })
}
