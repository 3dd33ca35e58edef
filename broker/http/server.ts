// HTTP endpoints for operators: /healthz (process up), /readyz (broker listening; storage
// reachable or spooling), /metrics (Prometheus text). Built on fastify; the console and API of
// later issues register on the same instance.
import Fastify, { LogController } from 'fastify'
import type { Logger } from '../log.ts'
import type { Metrics } from './metrics.ts'

export interface Readiness {
  brokerListening(): boolean
  /** Storage state for /readyz: `reachable`, `spooling` (InfluxDB down or unset, data safe on disk) or `failing`. */
  storage(): { state: 'reachable' | 'spooling' | 'failing'; detail?: string }
}

export interface HttpOptions { host: string; port: number; metrics: Metrics; readiness: Readiness; log: Logger }

export async function startHttpServer (options: HttpOptions) {
  const app = Fastify({ loggerInstance: options.log.child({ module: 'http' }), logController: new LogController({ disableRequestLogging: true }), bodyLimit: 64 * 1024 })

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

  const address = await app.listen({ host: options.host, port: options.port })
  const port = Number(new URL(address).port)
  return { app, port, async close () { await app.close() } }
}
