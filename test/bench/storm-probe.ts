// Reconnect-storm devices for `npm run bench`, in their own process: lamp posts on raw TCP, spread
// over loopback source addresses (source-address.ts), with MQTT 3.1.1 packets from mqtt-packet.
// First they connect and hold (no traffic); when a held connection closes (the gateway restarts)
// each reconnects as field firmware does — first attempt
// after a random delay, then backoff with jitter — and once connected publishes one QoS 1 reading
// and waits for its PUBACK, keeping the connection afterwards.
// Enters: a JSON spec file (argv[2]); stdin lines `connect` (connect and hold every device),
// `storm` (the next closes are the restart's), `started` (the new gateway is up), `report`, `stop`.
// Leaves: JSON lines on stdout — {type:'ready'}, {type:'held'}, {type:'done'} once every device's
// reading is acknowledged, {type:'report'} (histograms encoded for latency.ts summariseMerged).
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import mqttPacket from 'mqtt-packet'
import { createLatencyRecorder } from '../../simulators/load/latency.ts'
import { sourceAddressOf } from './source-address.ts'

export interface StormProbeSpec {
  port: number
  devices: { id: string; secret: string }[]
  /** Connects in flight at once while the devices are first connected. */
  concurrency: number
  keepaliveSec: number
  /** One attempt's longest wait for TCP connect plus CONNACK, as a firmware's network timeout. */
  attemptTimeoutMs: number
  /** The first reconnect attempt waits a random time up to this after the close. */
  firstDelayMaxMs: number
  /** Retry n waits min(backoffMaxMs, backoffBaseMs × n) × a random 0.5–1. */
  backoffBaseMs: number
  backoffMaxMs: number
  maxSec: number
}

/** The storm as one probe saw it; times are epoch ms (performance.timeOrigin + now()). */
export interface StormProbeReport {
  type: 'report'
  devices: number
  held: number
  /** Held connections that closed after `storm` (the restart) / before it (unexpected). */
  closedByRestart: number
  closedBeforeStorm: number
  connected: number
  acked: number
  /** TCP established → CONNACK, the attempt that succeeded. */
  connackWait: string
  /** First reconnect attempt → CONNACK: refused and timed-out attempts included. */
  sinceFirstAttempt: string
  /** Held connection closed → CONNACK: the outage as the device saw it. */
  sinceClose: string
  pubackWait: string
  /** Attempts a connected device needed → how many devices. */
  attempts: Record<string, number>
  /** Longest wait for a CONNACK on an established connection that never got one (timed out or closed). */
  failedConnackWaitMaxMs: number
  /** Devices still waiting at report time, by what they wait for, and the longest current CONNACK wait. */
  pending: { backoff: number; tcp: number; connack: number; puback: number; connackWaitMaxMs: number }
  /** Why attempts failed, by what they waited for: `tcp: ECONNREFUSED`, `tcp: timeout`, `connack: timeout`, `connack: CONNACK 5`, `puback: closed`, … */
  errors: Record<string, number>
  firstConnackAt: number | null
  lastConnackAt: number | null
  lastPubackAt: number | null
  cpuPercent: number
  /** This process's event-loop delay since `started` (the new gateway is up): what it adds to the waits it measures. */
  loopDelayMs: { p99: number; max: number }
}

type Phase = 'held' | 'backoff' | 'tcp' | 'connack' | 'puback' | 'acked'

interface Device {
  readonly id: string
  readonly connectPacket: Buffer
  readonly sourceAddress: string
  phase: Phase
  socket: Socket | undefined
  closedAt: number
  firstAttemptAt: number
  attempts: number
  tcpAt: number
  hasConnected: boolean
  /** The one reading, built at the first CONNACK (ts = then) and sent again unchanged after a reconnect. */
  publish: Buffer | undefined
  publishedAt: number
}

const CONNACK = 0x20
const PUBACK = 0x40
const PACKET_ID = 1

function emit (line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function now (): number {
  return performance.timeOrigin + performance.now()
}

function main (): void {
  const specFile = process.argv[2]
  if (specFile === undefined) throw new Error('usage: storm-probe.ts <spec.json>')
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as StormProbeSpec
  let cpuStart = process.cpuUsage()
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  /** From `started` on, the window the runner measures the gateway's CPU in. */
  let cpuSinceAt = now()
  let isStorm = false
  let closedByRestart = 0
  let closedBeforeStorm = 0
  /** Devices that held a connection in step 1: the storm's devices (the others show in `held`'s errors). */
  let held = 0
  let connected = 0
  let acked = 0
  let failedConnackWaitMaxMs = 0
  let firstConnackAt: number | null = null
  let lastConnackAt: number | null = null
  let lastPubackAt: number | null = null
  const errors: Record<string, number> = {}
  const attempts: Record<string, number> = {}
  const connackWait = createLatencyRecorder()
  const sinceFirstAttempt = createLatencyRecorder()
  const sinceClose = createLatencyRecorder()
  const pubackWait = createLatencyRecorder()

  // Clean session: a telemetry device keeps its own unacknowledged reading and sends it again, and
  // the gateway keeps MQTT sessions in memory only, so a persistent one would not survive the
  // restart anyway; the repository's device simulator connects with clean = true too.
  const devices: Device[] = spec.devices.map(function toDevice (d, index) {
    return {
      id: d.id,
      sourceAddress: sourceAddressOf(index),
      connectPacket: mqttPacket.generate({
        cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: spec.keepaliveSec,
        clientId: d.id, username: d.id, password: Buffer.from(d.secret),
      }),
      phase: 'backoff',
      socket: undefined,
      closedAt: 0,
      firstAttemptAt: 0,
      attempts: 0,
      tcpAt: 0,
      hasConnected: false,
      publish: undefined,
      publishedAt: 0,
    }
  })

  function countError (reason: string): void {
    errors[reason] = (errors[reason] ?? 0) + 1
  }

  function stop (): void {
    for (const device of devices) device.socket?.destroy()
    process.exit(0)
  }
  setTimeout(function lifetime () {
    process.stderr.write(`storm probe: still running after ${spec.maxSec} s, exiting\n`)
    stop()
  }, spec.maxSec * 1000).unref()

  function reading (): Buffer {
    // A valid lamp-post reading (devices/lamp-post.ts), stamped by the device.
    return Buffer.from(JSON.stringify({ ts: Date.now(), commandedLevel: 50, actualLevel: 50, supplyVoltage: 231.4, activePower: 80.5 }))
  }

  /** A held connection closed: from now on the device reconnects until its reading is acknowledged. */
  function onHeldClose (device: Device): void {
    device.closedAt = now()
    if (isStorm) closedByRestart++
    else closedBeforeStorm++
    retryAfter(device, Math.random() * spec.firstDelayMaxMs)
  }

  function retryAfter (device: Device, delayMs: number): void {
    device.phase = 'backoff'
    device.socket = undefined
    setTimeout(attempt, delayMs, device)
  }

  function backoffMs (attemptNumber: number): number {
    return Math.min(spec.backoffMaxMs, spec.backoffBaseMs * attemptNumber) * (0.5 + Math.random() / 2)
  }

  function attempt (device: Device): void {
    device.attempts++
    const at = now()
    if (device.firstAttemptAt === 0) device.firstAttemptAt = at
    device.phase = 'tcp'
    const socket = connect({ port: spec.port, host: '127.0.0.1', localAddress: device.sourceAddress })
    device.socket = socket
    socket.setNoDelay(true)
    let isOver = false
    let error: string | undefined
    let pending: Buffer = Buffer.alloc(0)

    /** This attempt failed before the reading was acknowledged: try again after the backoff. */
    function fail (reason: string): void {
      if (isOver) return
      isOver = true
      clearTimeout(timer)
      countError(`${device.phase}: ${reason}`)
      if (device.phase === 'connack') failedConnackWaitMaxMs = Math.max(failedConnackWaitMaxMs, now() - device.tcpAt)
      socket.destroy()
      retryAfter(device, backoffMs(device.attempts))
    }
    const timer = setTimeout(function attemptTimeout () { fail('timeout') }, spec.attemptTimeoutMs)

    socket.once('connect', function sendConnect () {
      device.phase = 'connack'
      device.tcpAt = now()
      socket.write(device.connectPacket)
    })
    // The gateway sends these devices nothing but CONNACK and PUBACK: 4 bytes each (remaining length
    // 2), read without a parser, which would cost every attempt a stream.
    socket.on('data', function read (chunk: Buffer) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      while (pending.length >= 4 && !isOver) {
        if (pending[1] !== 2) {
          fail(`unexpected packet 0x${(pending[0] as number).toString(16)}`)
          return
        }
        onPacket((pending[0] as number) & 0xf0, pending[3] as number, pending.readUInt16BE(2))
        pending = pending.subarray(4)
      }
    })
    /** `last` is a CONNACK's return code; `id` a PUBACK's packet id. */
    function onPacket (type: number, last: number, id: number): void {
      const t = now()
      if (type === CONNACK && device.phase === 'connack') {
        if (last !== 0) {
          fail(`CONNACK ${String(last)}`)
          return
        }
        clearTimeout(timer)
        // The figures are of each device's first CONNACK; a reconnect after it (lost before the
        // PUBACK) shows in the errors and in the PUBACK's time.
        if (!device.hasConnected) {
          device.hasConnected = true
          connected++
          attempts[String(device.attempts)] = (attempts[String(device.attempts)] ?? 0) + 1
          connackWait.record(t - device.tcpAt)
          sinceFirstAttempt.record(t - device.firstAttemptAt)
          sinceClose.record(t - device.closedAt)
          firstConnackAt = Math.min(firstConnackAt ?? t, t)
          lastConnackAt = Math.max(lastConnackAt ?? t, t)
        }
        device.publish ??= mqttPacket.generate({ cmd: 'publish', topic: `devices/${device.id}/telemetry`, payload: reading(), qos: 1, messageId: PACKET_ID, retain: false, dup: false })
        device.phase = 'puback'
        device.publishedAt = t
        socket.write(device.publish)
      } else if (type === PUBACK && id === PACKET_ID && device.phase === 'puback') {
        isOver = true
        device.phase = 'acked'
        acked++
        pubackWait.record(t - device.publishedAt)
        lastPubackAt = Math.max(lastPubackAt ?? t, t)
        if (acked === held) emit({ type: 'done', lastPubackAt })
      } else {
        fail(`unexpected packet 0x${type.toString(16)}`)
      }
    }
    socket.on('error', function onError (err: NodeJS.ErrnoException) { error = err.code ?? err.message })
    // Connected but not acknowledged: the reading goes again on the next connection.
    socket.once('close', function onClose () { if (device.phase !== 'acked') fail(error ?? 'closed') })
  }

  /** Step 1: every device connects once (no retries) and holds its connection. */
  async function connectAll (): Promise<void> {
    const started = performance.now()
    let next = 0
    function holdOne (device: Device): Promise<void> {
      return new Promise(function open (resolve) {
        const socket = connect({ port: spec.port, host: '127.0.0.1', localAddress: device.sourceAddress })
        socket.setNoDelay(true)
        let isHeld = false
        const timer = setTimeout(function noConnack () { countError('held: attempt timeout'); socket.destroy() }, spec.attemptTimeoutMs)
        socket.once('connect', function sendConnect () { socket.write(device.connectPacket) })
        socket.once('data', function onConnack (data: Buffer) {
          clearTimeout(timer)
          // CONNACK: 0x20, remaining length 2, session present, return code.
          if (data[0] !== CONNACK || data[3] !== 0) {
            countError(`held: CONNACK ${String(data[3])}`)
            socket.destroy()
            return
          }
          isHeld = true
          held++
          device.phase = 'held'
          device.socket = socket
          resolve()
        })
        socket.on('error', function onError (err: NodeJS.ErrnoException) { if (!isHeld) countError(`held: ${err.code ?? err.message}`) })
        socket.once('close', function onClose () {
          clearTimeout(timer)
          if (isHeld) onHeldClose(device)
          else resolve()
        })
      })
    }
    async function worker (): Promise<void> {
      while (next < devices.length) {
        const device = devices[next++]
        if (device !== undefined) await holdOne(device)
      }
    }
    await Promise.all(Array.from({ length: spec.concurrency }, worker))
    emit({ type: 'held', held, ms: Math.round(performance.now() - started), errors })
  }

  function report (): StormProbeReport {
    const t = now()
    const pending = { backoff: 0, tcp: 0, connack: 0, puback: 0, connackWaitMaxMs: 0 }
    for (const device of devices) {
      if (device.closedAt === 0) continue // never held, or not closed by the restart
      if (device.phase === 'backoff' || device.phase === 'tcp' || device.phase === 'puback') pending[device.phase]++
      if (device.phase === 'connack') {
        pending.connack++
        pending.connackWaitMaxMs = Math.max(pending.connackWaitMaxMs, t - device.tcpAt)
      }
    }
    const cpu = process.cpuUsage(cpuStart)
    return {
      type: 'report',
      devices: devices.length,
      held,
      closedByRestart,
      closedBeforeStorm,
      connected,
      acked,
      connackWait: connackWait.encoded(),
      sinceFirstAttempt: sinceFirstAttempt.encoded(),
      sinceClose: sinceClose.encoded(),
      pubackWait: pubackWait.encoded(),
      attempts,
      failedConnackWaitMaxMs: Math.round(failedConnackWaitMaxMs),
      pending: { ...pending, connackWaitMaxMs: Math.round(pending.connackWaitMaxMs) },
      errors,
      firstConnackAt,
      lastConnackAt,
      lastPubackAt,
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (t - cpuSinceAt)) * 1000) / 10,
      loopDelayMs: { p99: Math.round(loopDelay.percentile(99) / 1e6), max: Math.round(loopDelay.max / 1e6) },
    }
  }

  emit({ type: 'ready' })
  const lines = createInterface({ input: process.stdin })
  lines.on('line', function onCommand (text) {
    const command = text.trim()
    if (command === 'connect') void connectAll()
    else if (command === 'storm') {
      isStorm = true
      loopDelay.enable()
    } else if (command === 'started') {
      cpuSinceAt = now()
      cpuStart = process.cpuUsage()
      loopDelay.reset()
    }
    else if (command === 'report') emit(report())
    else if (command === 'stop') stop()
  })
  lines.once('close', stop)
}

try {
  main()
} catch (err) {
  process.stderr.write(`storm probe failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
}
