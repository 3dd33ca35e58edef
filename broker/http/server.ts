// HTTP endpoints: /healthz (process up), /readyz (broker listening; storage reachable or
// spooling), /metrics (Prometheus text), and when `api` is given the API under /api and the
// crew console at `/`. Built on fastify.
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import { registerApi, registerApiDocs, type ApiOptions } from '../api/index.ts'
import type { Logger } from '../log.ts'
import { registerConsole } from './console.ts'
import { registerApiGauges, type Metrics } from './metrics.ts'

export interface Readiness {
  brokerListening(): boolean
  /** Storage state for /readyz: `reachable`, `spooling` (InfluxDB down or unset, data safe on disk) or `failing`. */
  storage(): { state: 'reachable' | 'spooling' | 'failing'; detail?: string }
}

export interface HttpOptions {
  host: string
  port: number
  metrics: Metrics
  readiness: Readiness
  log: Logger
  /** The crews' and operators' API and console; absent = health and metrics only. */
  api?: ApiOptions
  /** Built console assets (default console/dist). */
  consoleDir?: string
}

export async function startHttpServer (options: HttpOptions) {
  const app = Fastify({
    loggerInstance: options.log.child({ module: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // A misspelt query parameter or body field is a 400 naming it, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  })
  const root = app as unknown as FastifyInstance
  if (options.api !== undefined) await registerApiDocs(root)

  app.get('/healthz', function healthz (_request, reply) {
    return reply.send({ status: 'ok' })
  })

  app.get('/readyz', async function readyz (_request, reply) {
    const broker = options.readiness.brokerListening()
    const storage = options.readiness.storage()
    const ready = broker && storage.state !== 'failing'
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', broker: broker ? 'listening' : 'down', storage })
  })

  app.get('/metrics', async function metrics (_request, reply) {
    const text = await options.metrics.registry.metrics()
    return reply.type(options.metrics.registry.contentType).send(text)
  })

  if (options.api !== undefined) {
    registerApiGauges(options.metrics, await registerApi(root, options.api))
    await registerConsole(root, options.consoleDir, options.api.console?.mapTileUrl)
  }

  const address = await app.listen({ host: options.host, port: options.port })
  const port = Number(new URL(address).port)
  return { app, port, async close () { await app.close() } }
}
