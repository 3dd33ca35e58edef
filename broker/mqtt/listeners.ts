// Stage 1, connection: TCP, TLS and WebSocket listeners → aedes.handle, with a packet-size guard.
// Every socket is counted against the connection limits at accept (before TLS or HTTP), and every
// connection's packets are measured before Aedes parses them, so no packet above the limit is buffered.
// Each listener's accept queue is sized for a reconnect storm and polled through several handles
// (accept-handles.ts), and while a storm lasts, connects go before established clients' packets
// (connect-priority.ts).
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Duplex } from 'node:stream'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { Aedes } from 'aedes'
import { ACCEPT_HANDLES_PER_LISTENER, CONNECT_PRIORITY } from '../config.ts'
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { attachConnectionInfo, type ConnectionInfo } from './connection-info.ts'
import { guardProtocolLevel } from './guards/protocol-level.ts'
import type { ConnectionLimiter } from './guards/connection-limit.ts'
import { guardPacketSize, PacketSizeCounter } from './guards/packet-size.ts'
import { lightenParserBuffer } from './parser-buffer.ts'
import { createConnectPriority } from './guards/connect-priority.ts'
import { addAcceptHandles, type AcceptHandles } from './accept-handles.ts'

export interface ListenerOptions {
  host: string
  mqttPort: number
  mqttsPort?: number | undefined
  tlsCert?: string | undefined
  tlsKey?: string | undefined
  /** CA (PEM file) for client certificates; used when tlsClientAuth is not 'off'. */
  tlsCa?: string | undefined
  tlsClientAuth?: 'off' | 'optional' | 'require' | undefined
  wsPort?: number | undefined
  maxPacketBytes: number
  /** Accept queue of every listener (listen()'s backlog). Default: Node's, 511. */
  backlog?: number | undefined
  /** A listener accepted a socket (before limits, TLS handshake or CONNECT). */
  onAccept?(transport: ConnectionInfo['transport']): void
  /** Bound on the TLS handshake and the WebSocket upgrade request (Aedes bounds the CONNECT). */
  connectTimeoutMs: number
  /** Counts sockets; a refused one is closed at once. */
  limiter?: ConnectionLimiter | undefined
  /** A limit refused or cut a connection (for metrics and throttled logs); `err` says why, when a code names it. */
  onLimit?(limit: 'connections' | 'connections_per_ip' | 'packet_size' | 'tls_handshake', ip: string, err?: GatewayError): void
  /** Bounds what waits to be sent to each connection. */
  outgoing?: { watch(stream: Duplex): void } | undefined
  /** A CONNECT asked for a protocol level this broker does not speak (answered with CONNACK 0x01). */
  onUnacceptableProtocol?(ip: string): void
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
  // Said once, not per connection: the swap is the same for every client of this process.
  let hasWarnedParser = false
  const sockets = new Set<Socket>()
  const { connectTimeoutMs } = options
  const priority = createConnectPriority(CONNECT_PRIORITY)
  const acceptedAt = new WeakMap<Socket, number>()
  // A TLSSocket is not the socket the server accepted, so its accept time is found by peer address.
  const tlsAcceptedAt = new Map<string, number>()
  function onLimit (limit: Parameters<NonNullable<ListenerOptions['onLimit']>>[0], ip: string, err?: GatewayError): void {
    options.onLimit?.(limit, ip, err)
  }

  /** Raw socket accepted by any server: count it, or close it at once when a limit says no. */
  function gate (socket: Socket, transport: ConnectionInfo['transport']): void {
    priority.noteAccept()
    acceptedAt.set(socket, performance.now())
    options.onAccept?.(transport)
    const ip = socket.remoteAddress ?? 'unknown'
    const limiter = options.limiter
    sockets.add(socket)
    socket.once('close', function forgetSocket () { sockets.delete(socket) })
    if (limiter === undefined) return
    const verdict = limiter.admit(ip)
    if (verdict !== 'ok') {
      onLimit(verdict, ip)
      socket.destroy()
      return
    }
    socket.once('close', function releaseSlot () { limiter.release(ip) })
  }

  function accept (stream: Duplex, info: ConnectionInfo, req?: IncomingMessage): void {
    attachConnectionInfo(stream, info)
    stream.on('error', function socketError (err) {
      log.debug({ ip: info.remoteAddress, err: { message: err.message } }, 'socket error')
    })
    open.add(stream)
    stream.once('close', function forget () { open.delete(stream) })
    options.outgoing?.watch(stream)
    const client = broker.handle(stream, req)
    if (!lightenParserBuffer(client) && !hasWarnedParser) {
      hasWarnedParser = true
      log.warn({ reason: 'parser_internals_changed' }, 'mqtt-packet parser buffer kept as a stream: about 1 KB more per connection')
    }
    // Innermost, so the guards below see bytes as they arrive (and the preflight can unwrap itself).
    priority.attach(client)
    const sizeCounter = new PacketSizeCounter(options.maxPacketBytes)
    guardPacketSize(client, sizeCounter, function packetTooLarge () {
      // The error goes to the limit's log line; the socket is destroyed without it, so Aedes does
      // not log the same refusal a second time as a client error.
      onLimit('packet_size', info.remoteAddress, new GatewayError('CSG_PAYLOAD_TOO_LARGE',
        `a packet announced at least ${sizeCounter.oversizeBytes} bytes, above MAX_PACKET_BYTES (${options.maxPacketBytes})`))
      stream.destroy()
    })
    guardProtocolLevel(client, stream, function unacceptableProtocol () { options.onUnacceptableProtocol?.(info.remoteAddress) })
  }

  function acceptTcp (socket: Socket): void {
    if (socket.destroyed) return
    socket.setNoDelay(true)
    accept(socket, { remoteAddress: socket.remoteAddress ?? 'unknown', transport: 'tcp', clientCertCn: undefined, acceptedAtMs: acceptedAt.get(socket) })
  }

  function acceptTls (socket: TLSSocket): void {
    if (socket.destroyed) return
    socket.setNoDelay(true)
    const key = peerKey(socket)
    const acceptedAtMs = tlsAcceptedAt.get(key)
    tlsAcceptedAt.delete(key)
    accept(socket, { remoteAddress: socket.remoteAddress ?? 'unknown', transport: 'tls', clientCertCn: verifiedCn(socket), acceptedAtMs })
  }

  const servers: (NetServer | HttpServer)[] = []
  const acceptHandles: AcceptHandles[] = []
  async function listen (server: NetServer | HttpServer, port: number): Promise<number> {
    const bound = await listenOn(server, options.host, port, options.backlog)
    acceptHandles.push(addAcceptHandles(server, ACCEPT_HANDLES_PER_LISTENER - 1, options.backlog ?? NODE_DEFAULT_BACKLOG, log))
    return bound
  }
  const tcp = createTcpServer()
  tcp.on('connection', function gateTcp (socket: Socket) { gate(socket, 'tcp') })
  tcp.on('connection', acceptTcp)
  servers.push(tcp)
  const ports: { mqtt: number; mqtts?: number; ws?: number } = { mqtt: await listen(tcp, options.mqttPort) }

  if (options.mqttsPort !== undefined && options.tlsCert !== undefined && options.tlsKey !== undefined) {
    const clientAuth = options.tlsCa === undefined ? 'off' : options.tlsClientAuth ?? 'off'
    const tls = createTlsServer({
      cert: readFileSync(options.tlsCert),
      key: readFileSync(options.tlsKey),
      handshakeTimeout: connectTimeoutMs,
      ...(clientAuth === 'off' || options.tlsCa === undefined
        ? {}
        : { ca: readFileSync(options.tlsCa), requestCert: true, rejectUnauthorized: clientAuth === 'require' }),
    }, acceptTls)
    // Before tls.Server's own listener wraps the socket, so a refused socket never starts a handshake.
    tls.prependListener('connection', function gateTls (socket: Socket) {
      gate(socket, 'tls')
      const key = peerKey(socket)
      tlsAcceptedAt.set(key, performance.now())
      socket.once('close', function forgetTlsAccept () { tlsAcceptedAt.delete(key) })
    })
    tls.on('tlsClientError', function tlsFailed (err: Error, socket: TLSSocket) {
      onLimit('tls_handshake', socket.remoteAddress ?? 'unknown')
      log.debug({ ip: socket.remoteAddress, err: { message: err.message } }, 'TLS handshake failed')
    })
    servers.push(tls)
    ports.mqtts = await listen(tls, options.mqttsPort)
  }

  let wss: WebSocketServer | undefined
  if (options.wsPort !== undefined) {
    const http = createHttpServer(function notAnUpgrade (_req: IncomingMessage, res: ServerResponse) {
      res.writeHead(426, { connection: 'close', upgrade: 'websocket' }).end('MQTT over WebSocket only\n')
    })
    // Bounds a client that never finishes its upgrade request (slowloris); Aedes bounds the CONNECT.
    http.headersTimeout = connectTimeoutMs
    http.on('connection', function gateWs (socket: Socket) { gate(socket, 'ws') })
    wss = new WebSocketServer({ server: http, maxPayload: options.maxPacketBytes + 16 })
    wss.on('connection', function acceptWebSocket (ws: WebSocket, req: IncomingMessage) {
      accept(createWebSocketStream(ws), { remoteAddress: req.socket.remoteAddress ?? 'unknown', transport: 'ws', clientCertCn: undefined, acceptedAtMs: acceptedAt.get(req.socket) }, req)
    })
    servers.push(http)
    ports.ws = await listen(http, options.wsPort)
  }
  log.info({ host: options.host, ...ports, backlog: options.backlog }, 'MQTT listeners up')

  return {
    ports,
    connections () { return open.size },
    async close () {
      const closingHandles = acceptHandles.map(function stop (handles) { return handles.close() })
      const closing = servers.map(function stop (server) { return new Promise<void>(function closed (resolve) { server.close(function done () { resolve() }) }) })
      wss?.close()
      for (const stream of open) stream.destroy()
      // Sockets still in a TLS handshake or an HTTP upgrade have no stream yet.
      for (const socket of sockets) socket.destroy()
      priority.close()
      await Promise.all([...closing, ...closingHandles])
    },
  }
}

/** The CN of a client certificate verified against TLS_CA, or undefined (none, unverified, several CNs). */
function verifiedCn (socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined
  const cn: unknown = socket.getPeerCertificate().subject?.CN
  return typeof cn === 'string' && cn !== '' ? cn : undefined
}

function peerKey (socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${String(socket.remotePort)}`
}

/** What Node's listen() uses when given no backlog. */
const NODE_DEFAULT_BACKLOG = 511

async function listenOn (server: NetServer | HttpServer, host: string, port: number, backlog: number | undefined): Promise<number> {
  server.listen(backlog === undefined ? { port, host } : { port, host, backlog })
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}
