// Stage 1, connection: TCP, TLS and WebSocket listeners → a size-guarded stream → aedes.handle.
// Every connection passes through PacketSizeGuard first, so no packet above the limit is buffered.
import { once } from 'node:events'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import { readFileSync } from 'node:fs'
import type { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws'
import { isGatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { PacketSizeGuard } from './packet-size-guard.ts'

export interface ListenerOptions {
  host: string
  mqttPort: number
  mqttsPort?: number | undefined
  tlsCert?: string | undefined
  tlsKey?: string | undefined
  wsPort?: number | undefined
  maxPacketBytes: number
  log: Logger
}

export interface Listeners {
  /** Bound ports (useful when 0 asked for a free one). */
  readonly ports: { mqtt: number; mqtts?: number; ws?: number }
  connections(): number
  /** Stops accepting and closes open connections. */
  close(): Promise<void>
}

export async function startListeners (broker: Aedes, options: ListenerOptions): Promise<Listeners> {
  const log = options.log.child({ module: 'listeners' })
  const open = new Set<Duplex>()

  function accept (stream: Duplex, remoteAddress: string | undefined, req?: IncomingMessage): void {
    const guard = new PacketSizeGuard(options.maxPacketBytes)
    const guarded = Duplex.from({ readable: stream.pipe(guard), writable: stream })
    Object.defineProperty(guarded, 'remoteAddress', { value: remoteAddress })
    guard.on('error', function guardError (err) {
      // The guard also errors (AbortError) when the connection closes normally; only its own
      // refusal is worth a warning.
      if (isGatewayError(err, 'CSG_PAYLOAD_TOO_LARGE')) {
        log.warn({ ip: remoteAddress, reason: 'packet_too_large', err: { message: err.message } }, 'connection closed: packet too large')
      }
      stream.destroy()
    })
    stream.on('error', function socketError (err) {
      log.debug({ ip: remoteAddress, err: { message: err.message } }, 'socket error')
    })
    open.add(guarded)
    guarded.once('close', function forget () { open.delete(guarded) })
    stream.once('close', function closeGuarded () { guarded.destroy() })
    broker.handle(guarded, req)
  }

  function acceptSocket (socket: Socket): void {
    socket.setNoDelay(true)
    accept(socket, socket.remoteAddress)
  }

  const servers: (NetServer | HttpServer)[] = []
  const tcp = createTcpServer(acceptSocket)
  servers.push(tcp)
  const ports: { mqtt: number; mqtts?: number; ws?: number } = { mqtt: await listen(tcp, options.host, options.mqttPort) }

  if (options.mqttsPort !== undefined && options.tlsCert !== undefined && options.tlsKey !== undefined) {
    const tls = createTlsServer({ cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) }, acceptSocket)
    servers.push(tls)
    ports.mqtts = await listen(tls, options.host, options.mqttsPort)
  }

  let wss: WebSocketServer | undefined
  if (options.wsPort !== undefined) {
    const http = createHttpServer()
    wss = new WebSocketServer({ server: http, maxPayload: options.maxPacketBytes + 16 })
    wss.on('connection', function acceptWebSocket (ws: WebSocket, req: IncomingMessage) {
      accept(createWebSocketStream(ws), req.socket.remoteAddress, req)
    })
    servers.push(http)
    ports.ws = await listen(http, options.host, options.wsPort)
  }
  log.info({ host: options.host, ...ports }, 'MQTT listeners up')

  return {
    ports,
    connections () { return open.size },
    async close () {
      const closing = servers.map(function stop (server) { return new Promise<void>(function closed (resolve) { server.close(function done () { resolve() }) }) })
      wss?.close()
      for (const stream of open) stream.destroy()
      await Promise.all(closing)
    },
  }
}

async function listen (server: NetServer | HttpServer, host: string, port: number): Promise<number> {
  server.listen(port, host)
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}
