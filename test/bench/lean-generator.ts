// The bench's lean load generator, in its own process: raw TCP sockets, CONNECT and PUBLISH packets
// encoded once with mqtt-packet, PUBACKs read from the bytes. Closed loop: `window` QoS 1 publishes
// in flight per connection, each slot sent again the moment its PUBACK arrives. Open loop
// (`ratePerSec`): the devices take turns at that rate, each sending only from a free slot (with
// window 1: one message at a time, as devices in the field do); a turn without one is skipped and
// counted. It speaks
// the same protocol as load-generator.ts (a LoadSpec file in argv[2]; JSON lines `connected`,
// `windowStart`, `loadEnd`, `result` on stdout; `go` and `stop` on stdin), so a phase can use either.
// Per message it costs a few µs of CPU where MQTT.js costs tens: the broker is measured, not the
// generator.
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import mqttPacket from 'mqtt-packet'
import { buildPayloads, type LoadResult as SimulatorLoadResult } from '../../simulators/load/run-load.ts'
import { createLatencyRecorder } from '../../simulators/load/latency.ts'
import type { LoadSpec } from './load-generator.ts'

const CONNACK = 0x20
const PUBACK = 0x40

/** Readings each slot takes turns with, so a device does not send one value over and over. */
const PAYLOAD_VARIANTS = 4

interface Slot {
  /** Whole PUBLISH packets with different readings, packet id = slot index + 1; built once. */
  readonly packets: readonly Buffer[]
  /** Which of them goes next. */
  next: number
  sentAtMs: number
  isInFlight: boolean
}

interface Connection {
  readonly socket: Socket
  readonly slots: Slot[]
  /** Bytes of a packet split across reads. */
  pending: Buffer
}

function emit (line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function publishPacket (topic: string, payload: Buffer, messageId: number): Buffer {
  return mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false })
}

async function main (): Promise<void> {
  const specFile = process.argv[2]
  if (specFile === undefined) throw new Error('usage: lean-generator.ts <spec.json>')
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as LoadSpec
  const rate = spec.ratePerSec !== undefined && spec.ratePerSec > 0 ? spec.ratePerSec : undefined
  const limitMs = (spec.warmupSec + spec.durationSec + spec.drainTimeoutSec + 60) * 1000 + spec.devices.length * 100
  setTimeout(function giveUp () {
    process.stderr.write(`lean generator: still running after ${limitMs} ms, exiting\n`)
    process.exit(2)
  }, limitMs).unref()

  const url = new URL(spec.url)
  const payloads = buildPayloads(spec.seed)
  const latency = createLatencyRecorder()
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  const errors: Record<string, number> = {}
  let isLoading = false
  let isMeasuring = false
  let published = 0
  let acked = 0
  let publishedInWindow = 0
  let ackedInWindow = 0
  let unexpectedCloses = 0
  let skipped = 0
  const connections: Connection[] = []
  const timeline: [number, number, number][] = []
  const cpuAtStart = process.cpuUsage()
  function sampleTimeline (): void {
    const cpu = process.cpuUsage(cpuAtStart)
    timeline.push([Math.round(performance.timeOrigin + performance.now()), acked, Math.round((cpu.user + cpu.system) / 1000)])
  }

  function send (connection: Connection, slot: Slot): void {
    slot.isInFlight = true
    slot.sentAtMs = performance.now()
    published++
    if (isMeasuring) publishedInWindow++
    connection.socket.write(slot.packets[slot.next] as Buffer)
    slot.next = (slot.next + 1) % slot.packets.length
  }

  /** Reads CONNACKs and PUBACKs; anything else is skipped by its length. */
  function onData (connection: Connection, chunk: Buffer, onConnack: (returnCode: number) => void): void {
    let data = connection.pending.length === 0 ? chunk : Buffer.concat([connection.pending, chunk])
    let offset = 0
    connection.socket.cork()
    while (offset + 2 <= data.length) {
      // Remaining length: 1–4 bytes of 7 bits each.
      let length = 0
      let multiplier = 1
      let index = offset + 1
      let isComplete = false
      while (index < data.length && index < offset + 5) {
        const byte = data[index++] as number
        length += (byte & 0x7f) * multiplier
        multiplier *= 128
        if ((byte & 0x80) === 0) {
          isComplete = true
          break
        }
      }
      if (!isComplete || index + length > data.length) break
      const type = (data[offset] as number) & 0xf0
      if (type === PUBACK && length === 2) {
        const slot = connection.slots[(data.readUInt16BE(index)) - 1]
        if (slot?.isInFlight === true) {
          slot.isInFlight = false
          acked++
          if (isMeasuring) {
            ackedInWindow++
            latency.record(performance.now() - slot.sentAtMs)
          }
          if (isLoading && rate === undefined) send(connection, slot)
        }
      } else if (type === CONNACK && length === 2) {
        onConnack(data[index + 1] as number)
      }
      offset = index + length
    }
    process.nextTick(function flush () { connection.socket.uncork() })
    data = data.subarray(offset)
    connection.pending = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data)
  }

  /** Fills a connection's window: its first publishes. */
  function fillWindow (connection: Connection): void {
    connection.socket.cork()
    for (const slot of connection.slots) send(connection, slot)
    process.nextTick(function flush () { connection.socket.uncork() })
  }
  let sampler: NodeJS.Timeout | undefined
  function startLoad (): void {
    isLoading = true
    if (spec.timelineEveryMs === undefined) return
    sampler = setInterval(sampleTimeline, spec.timelineEveryMs)
    sampleTimeline()
  }

  if (spec.startOnConnect === true) startLoad()
  const connectStarted = performance.now()
  for (let start = 0; start < spec.devices.length; start += spec.connectConcurrency) {
    const batch = spec.devices.slice(start, start + spec.connectConcurrency)
    await Promise.all(batch.map(function connectOne (device, offset) {
      return new Promise<void>(function connectDevice (resolve) {
        const topic = `devices/${device.id}/telemetry`
        const kindPayloads = payloads[device.kind]
        const slots: Slot[] = Array.from({ length: spec.window }, function makeSlot (_, k) {
          const packets = Array.from({ length: PAYLOAD_VARIANTS }, function variant (_v, v) {
            const payload = kindPayloads[(start + offset + k + v * spec.window) % kindPayloads.length] as Buffer
            return publishPacket(topic, payload, k + 1)
          })
          return { packets, next: 0, sentAtMs: 0, isInFlight: false }
        })
        const socket = connect({ host: url.hostname, port: Number(url.port || 1883), noDelay: true })
        const connection: Connection = { socket, slots, pending: Buffer.alloc(0) }
        const giveUp = setTimeout(function notConnected () { errors['connect timeout'] = (errors['connect timeout'] ?? 0) + 1; resolve() }, 15_000)
        socket.on('connect', function sendConnect () {
          socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: device.id, username: device.id, password: Buffer.from(device.secret), clean: true, keepalive: 60 }))
        })
        socket.on('data', function read (chunk: Buffer) {
          onData(connection, chunk, function connacked (returnCode) {
            clearTimeout(giveUp)
            if (returnCode === 0) {
              connections.push(connection)
              if (spec.startOnConnect === true) fillWindow(connection)
            } else errors[`connack ${returnCode}`] = (errors[`connack ${returnCode}`] ?? 0) + 1
            resolve()
          })
        })
        socket.on('error', function keepError (err) { errors[err.message] = (errors[err.message] ?? 0) + 1 })
        socket.on('close', function closed () {
          if (isLoading) unexpectedCloses++
          clearTimeout(giveUp)
          resolve()
        })
      })
    }))
  }
  const connectMs = Math.round(performance.now() - connectStarted)
  emit({ type: 'connected', connected: connections.length, connectMs })

  let loadStart = 0
  let turn = 0
  let scheduled = 0
  /** Open loop: the messages due since the start, each from the next device in turn that has a free slot. */
  function sendDue (): void {
    if (!isLoading || rate === undefined || connections.length === 0) return
    const due = Math.floor(((performance.now() - loadStart) / 1000) * rate)
    for (; scheduled < due; scheduled++) {
      const connection = connections[turn] as Connection
      turn = (turn + 1) % connections.length
      const slot = connection.slots.find(function isFree (s) { return !s.isInFlight })
      if (slot === undefined || connection.socket.destroyed) skipped++
      else send(connection, slot)
    }
    setTimeout(sendDue, 1)
  }
  if (spec.startOnConnect !== true) {
    if (spec.holdUntilGo === true) await new Promise<void>(function waitForGo (resolve) { commands.onGo = resolve })
    startLoad()
    if (rate === undefined) for (const connection of connections) fillWindow(connection)
    else {
      loadStart = performance.now()
      sendDue()
    }
  }
  await sleepUnlessStopped(spec.warmupSec * 1000)
  isMeasuring = true
  loopDelay.enable()
  const cpuStart = process.cpuUsage()
  const windowStart = performance.now()
  emit({ type: 'windowStart' })
  await sleepUnlessStopped(spec.durationSec * 1000)
  isLoading = false
  isMeasuring = false
  if (sampler !== undefined) {
    clearInterval(sampler)
    sampleTimeline()
  }
  const windowMs = performance.now() - windowStart
  const cpu = process.cpuUsage(cpuStart)
  loopDelay.disable()
  emit({ type: 'loadEnd' })

  const drainDeadline = performance.now() + spec.drainTimeoutSec * 1000
  while (performance.now() < drainDeadline && connections.some(function hasInFlight (c) { return c.slots.some(function inFlight (s) { return s.isInFlight }) })) {
    await new Promise(function tick (resolve) { setTimeout(resolve, 20) })
  }
  const unacked = connections.reduce(function count (sum, c) { return sum + c.slots.filter(function inFlight (s) { return s.isInFlight }).length }, 0)
  for (const connection of connections) connection.socket.end(mqttPacket.generate({ cmd: 'disconnect' }))

  const windowSec = windowMs / 1000
  const result: SimulatorLoadResult & { type: 'result'; generator: 'lean'; timeline?: [number, number, number][] } = {
    type: 'result',
    generator: 'lean',
    mode: 'load',
    url: spec.url,
    qos: 1,
    targetRatePerSec: rate ?? null,
    devices: spec.devices.length,
    connected: connections.length,
    connectMs,
    window: spec.window,
    warmupSec: spec.warmupSec,
    durationSec: Math.round(windowSec * 10) / 10,
    published,
    acked,
    failed: 0,
    unacked,
    skipped,
    publishedInWindow,
    ackedInWindow,
    publishedPerSec: Math.round(publishedInWindow / windowSec),
    ackedPerSec: Math.round(ackedInWindow / windowSec),
    latencyMs: latency.summary(),
    ...(spec.keepHistogram === true ? { latencyHistogram: latency.encoded() } : {}),
    reconnects: 0,
    unexpectedCloses,
    clientErrors: errors,
    generatorCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / windowMs) * 1000) / 10,
    generatorLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
    ...(spec.timelineEveryMs === undefined ? {} : { timeline }),
  }
  emit(result)
  process.exit(0)
}

/** `go` (several generators start together) and `stop` (end the load early) from the runner. */
const commands: { onGo: () => void; stop: AbortController } = { onGo () { /* set while waiting */ }, stop: new AbortController() }
process.stdin.setEncoding('utf8')
process.stdin.on('data', function onCommand (text: string) {
  if (text.includes('go')) commands.onGo()
  if (text.includes('stop')) commands.stop.abort()
})

function sleepUnlessStopped (ms: number): Promise<void> {
  return new Promise(function wait (resolve) {
    const timer = setTimeout(resolve, ms)
    commands.stop.signal.addEventListener('abort', function early () { clearTimeout(timer); resolve() }, { once: true })
  })
}

main().catch(function failed (err: unknown) {
  process.stderr.write(`lean generator failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
