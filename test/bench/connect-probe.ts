// Connection holder for `npm run bench`'s connections figure, in its own process: authenticated
// device connections (raw TCP + an MQTT 3.1.1 CONNECT from mqtt-packet, so the client side stays
// small; spread over loopback source addresses, source-address.ts) held open, no traffic. Enters: a JSON spec file (argv[2]); stdin lines `connect <total>`
// (open more until <total> are held) and `stop`. Leaves: JSON lines on stdout — {type:'ready'},
// {type:'held', held, ms, errors} after each `connect`. Exits on `stop`, stdin end or maxSec.
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import mqttPacket from 'mqtt-packet'
import { sourceAddressOf } from './source-address.ts'

export interface ConnectProbeSpec {
  port: number
  devices: { id: string; secret: string }[]
  /** Connects in flight at once. */
  concurrency: number
  keepaliveSec: number
  /** Longest wait for one CONNACK. */
  connackTimeoutMs: number
  maxSec: number
}

function emit (line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function main (): void {
  const specFile = process.argv[2]
  if (specFile === undefined) throw new Error('usage: connect-probe.ts <spec.json>')
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as ConnectProbeSpec
  const sockets: Socket[] = []
  const errors: Record<string, number> = {}
  let closedLater = 0
  function countError (reason: string): void {
    errors[reason] = (errors[reason] ?? 0) + 1
  }
  function stop (): void {
    for (const socket of sockets) socket.destroy()
    process.exit(0)
  }
  setTimeout(function lifetime () {
    process.stderr.write(`connect probe: still running after ${spec.maxSec} s, exiting\n`)
    stop()
  }, spec.maxSec * 1000).unref()

  /** One device: CONNECT, wait for CONNACK 0; resolves with the socket when held. */
  function connectOne (device: { id: string; secret: string }, index: number): Promise<Socket | undefined> {
    return new Promise(function attempt (resolve) {
      const socket = connect({ port: spec.port, host: '127.0.0.1', localAddress: sourceAddressOf(index) })
      let isSettled = false
      function settle (isHeld: boolean, reason?: string): void {
        if (isSettled) return
        isSettled = true
        clearTimeout(timer)
        if (reason !== undefined) countError(reason)
        if (!isHeld) socket.destroy()
        resolve(isHeld ? socket : undefined)
      }
      const timer = setTimeout(function noConnack () { settle(false, 'CONNACK timeout') }, spec.connackTimeoutMs)
      socket.setNoDelay(true)
      socket.once('connect', function sendConnect () {
        socket.write(mqttPacket.generate({
          cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: spec.keepaliveSec,
          clientId: device.id, username: device.id, password: Buffer.from(device.secret),
        }))
      })
      socket.once('data', function onConnack (data: Buffer) {
        // CONNACK: 0x20, remaining length 2, session present, return code.
        if (data[0] === 0x20 && data[3] === 0) settle(true)
        else settle(false, `CONNACK ${String(data[0])}/${String(data[3])}`)
      })
      socket.on('error', function onError (err: NodeJS.ErrnoException) { settle(false, err.code ?? err.message) })
      socket.once('close', function onClose () {
        if (isSettled) closedLater++
        else settle(false, 'closed before CONNACK')
      })
    })
  }

  let next = 0
  async function connectUpTo (total: number): Promise<void> {
    const target = Math.min(total, spec.devices.length)
    const startedAt = performance.now()
    const errorsBefore = Object.values(errors).reduce(function add (a, b) { return a + b }, 0)
    async function worker (): Promise<void> {
      while (next < target) {
        const index = next++
        const device = spec.devices[index]
        if (device === undefined) break
        const socket = await connectOne(device, index)
        if (socket !== undefined) sockets.push(socket)
      }
    }
    await Promise.all(Array.from({ length: spec.concurrency }, worker))
    const errorCount = Object.values(errors).reduce(function add (a, b) { return a + b }, 0) - errorsBefore
    const held = sockets.filter(function isOpen (s) { return !s.destroyed }).length
    emit({ type: 'held', target: total, held, ms: Math.round(performance.now() - startedAt), newErrors: errorCount, errors, closedLater })
  }

  emit({ type: 'ready' })
  const lines = createInterface({ input: process.stdin })
  let queue = Promise.resolve()
  lines.on('line', function onCommand (text) {
    const [command, arg] = text.trim().split(/\s+/)
    if (command === 'connect') {
      queue = queue.then(function connectMore () { return connectUpTo(Number(arg)) })
    } else if (command === 'stop') {
      stop()
    }
  })
  lines.once('close', stop)
}

try {
  main()
} catch (err) {
  process.stderr.write(`connect probe failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
}
