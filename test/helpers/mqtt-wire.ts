// A raw MQTT connection for tests that need what a well-behaved client never does: stop reading,
// retransmit a QoS 2 PUBLISH before PUBREL, send packet id 0 or a foreign protocol level. Packets
// are built and parsed with mqtt-packet; every wait is bounded.
import { connect, type Socket } from 'node:net'
import mqttPacket, { type Packet } from 'mqtt-packet'

export interface WireClient {
  readonly socket: Socket
  /** Every packet received so far. */
  readonly received: Packet[]
  /** The raw bytes received so far (for answers the parser does not take). */
  readonly bytes: Buffer[]
  send(packet: Packet | Buffer): void
  /** Waits (bounded) for the next received packet of this kind. */
  next(cmd: Packet['cmd'], timeoutMs?: number): Promise<Packet>
  /** Resolves once the socket closed. */
  readonly closed: Promise<void>
  /** Stops reading from the socket (the peer's writes pile up in buffers). */
  stopReading(): void
  destroy(): void
}

export async function openWire (port: number, options: { protocolVersion?: 3 | 4 | 5 } = {}): Promise<WireClient> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.on('error', () => {})
  const parser = mqttPacket.parser({ protocolVersion: options.protocolVersion ?? 4 })
  const received: Packet[] = []
  const bytes: Buffer[] = []
  let seen = 0
  const waiters = new Set<() => void>()
  parser.on('packet', (packet: Packet) => {
    received.push(packet)
    for (const wake of [...waiters]) wake()
  })
  parser.on('error', () => {})
  socket.on('data', (chunk: Buffer) => {
    bytes.push(chunk)
    parser.parse(chunk)
  })
  const closed = new Promise<void>((resolve) => { socket.once('close', () => { for (const wake of [...waiters]) wake(); resolve() }) })
  return {
    socket,
    received,
    bytes,
    closed,
    send (packet) { socket.write(Buffer.isBuffer(packet) ? packet : mqttPacket.generate(packet)) },
    async next (cmd, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const index = received.findIndex((p, i) => i >= seen && p.cmd === cmd)
        if (index !== -1) {
          seen = index + 1
          return received[index] as Packet
        }
        if (socket.destroyed) throw new Error(`connection closed while waiting for ${cmd}`)
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no ${cmd} within ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, left)
          function done (): void { clearTimeout(timer); waiters.delete(done); resolve() }
          waiters.add(done)
        })
      }
    },
    stopReading () { socket.pause() },
    destroy () { socket.destroy() },
  }
}

/** CONNECT of MQTT 3.1.1 with credentials. */
export function connectPacket (clientId: string, username: string, password: string, extra: Partial<mqttPacket.IConnectPacket> = {}): mqttPacket.IConnectPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId, username, password: Buffer.from(password), ...extra }
}
