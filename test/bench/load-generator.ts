// Load generator for `npm run bench`, in its own process: one MQTT.js connection per device
// (client id = username = device id), each keeping `window` QoS 1 publishes in flight to
// devices/<id>/telemetry. Enters: a JSON spec file (argv[2]). Leaves: JSON lines on stdout —
// {type:'connected'}, {type:'windowStart'}, {type:'loadEnd'} the moment it stops publishing, {type:'result'} at the end.
// Bounded: every phase has a deadline, and the process exits by itself.
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import mqtt, { type MqttClient } from 'mqtt'
import type { KindName } from '../../devices/index.ts'
import { createRandom, readingGenerators } from '../../simulators/readings.ts'
import { createSampler, summarise, type LatencySummary } from './latency.ts'

export interface LoadSpec {
  url: string
  devices: { id: string; secret: string; kind: KindName }[]
  warmupSec: number
  durationSec: number
  /** QoS 1 publishes in flight per connection. */
  window: number
  connectConcurrency: number
  /** Longest wait for the publishes in flight once the load stops. */
  drainTimeoutSec: number
  seed: number
}

export interface LoadResult {
  type: 'result'
  devices: number
  connected: number
  connectMs: number
  window: number
  warmupSec: number
  durationSec: number
  /** Publishes sent / PUBACKs received / failed, over the whole run (warm-up and drain included). */
  published: number
  acked: number
  failed: number
  /** Publishes still without PUBACK when the drain deadline passed. */
  unacked: number
  /** PUBACKs received inside the measured window, and per second. */
  ackedInWindow: number
  ackedPerSec: number
  latencyMs: LatencySummary
  unexpectedCloses: number
  /** Distinct client-side error messages (device id stripped) and how often each occurred. */
  clientErrors: Record<string, number>
  /** This process's CPU over the measured window (100 = one core) and its event-loop delay: a saturated generator caps every figure. */
  generatorCpuPercent: number
  generatorLoopDelayP99Ms: number
}

const PAYLOADS_PER_KIND = 64
const MAX_LATENCY_SAMPLES = 1_000_000

function emit (line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function sleep (ms: number): Promise<void> {
  return new Promise(function wake (resolve) { setTimeout(resolve, ms) })
}

/** Pre-encoded payloads per kind, so the generator spends its CPU on MQTT, not on JSON. */
function buildPayloads (seed: number): Record<KindName, Buffer[]> {
  const random = createRandom(seed)
  const payloads = {} as Record<KindName, Buffer[]>
  for (const kind of Object.keys(readingGenerators) as KindName[]) {
    const generate = readingGenerators[kind]
    payloads[kind] = Array.from({ length: PAYLOADS_PER_KIND }, function makePayload (_, seq) {
      return Buffer.from(JSON.stringify(generate(random, seq)))
    })
  }
  return payloads
}

function countError (errors: Record<string, number>, err: Error): void {
  errors[err.message] = (errors[err.message] ?? 0) + 1
}

/** Connects every device; connections finish out of order, so each client stays at its device's index. */
async function connectAll (spec: LoadSpec, errors: Record<string, number>): Promise<MqttClient[]> {
  const clients: MqttClient[] = []
  let next = 0
  async function connectNext (): Promise<void> {
    while (next < spec.devices.length) {
      const index = next++
      const device = spec.devices[index]
      if (device === undefined) return
      const client = await mqtt.connectAsync(spec.url, {
        clientId: device.id,
        username: device.id,
        password: device.secret,
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      })
      client.on('error', function keepError (err) { countError(errors, err) })
      clients[index] = client
    }
  }
  const workers = Array.from({ length: Math.min(spec.connectConcurrency, spec.devices.length) }, connectNext)
  await Promise.all(workers)
  return clients
}

async function run (spec: LoadSpec): Promise<LoadResult> {
  const payloads = buildPayloads(spec.seed)
  const clientErrors: Record<string, number> = {}
  const connectStart = performance.now()
  const clients = await connectAll(spec, clientErrors)
  const connectMs = performance.now() - connectStart
  emit({ type: 'connected', connected: clients.length, connectMs: Math.round(connectMs) })

  const sampler = createSampler(MAX_LATENCY_SAMPLES, createRandom(spec.seed + 1))
  let published = 0
  let acked = 0
  let failed = 0
  let inFlight = 0
  let ackedInWindow = 0
  let unexpectedCloses = 0
  let isLoading = true
  let isMeasuring = false
  let onDrained: (() => void) | undefined

  const pumps = clients.map(function makePump (client, index) {
    const device = spec.devices[index]
    if (device === undefined) throw new Error('device list shorter than client list')
    const topic = `devices/${device.id}/telemetry`
    const kindPayloads = payloads[device.kind]
    let deviceInFlight = 0
    let nextPayload = index % PAYLOADS_PER_KIND
    let isBroken = false
    client.on('close', function markClosed () {
      if (isLoading && !isBroken) unexpectedCloses++
      isBroken = true
    })

    function publishOne (): void {
      const payload = kindPayloads[nextPayload] as Buffer
      nextPayload = (nextPayload + 1) % PAYLOADS_PER_KIND
      const sentAt = performance.now()
      deviceInFlight++
      inFlight++
      published++
      client.publish(topic, payload, { qos: 1 }, function onPuback (err) {
        deviceInFlight--
        inFlight--
        if (err !== undefined && err !== null) {
          failed++
          isBroken = true
          countError(clientErrors, err)
        } else {
          acked++
          if (isMeasuring) {
            ackedInWindow++
            sampler.add(performance.now() - sentAt)
          }
        }
        if (isLoading && !isBroken) pump()
        else if (inFlight === 0) onDrained?.()
      })
    }

    function pump (): void {
      while (deviceInFlight < spec.window && isLoading && !isBroken) publishOne()
    }
    return pump
  })

  for (const pump of pumps) pump()
  await sleep(spec.warmupSec * 1000)

  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  const cpuStart = process.cpuUsage()
  const windowStart = performance.now()
  isMeasuring = true
  loopDelay.enable()
  emit({ type: 'windowStart', published, acked })
  await sleep(spec.durationSec * 1000)
  isMeasuring = false
  isLoading = false
  const windowMs = performance.now() - windowStart
  const cpu = process.cpuUsage(cpuStart)
  loopDelay.disable()
  emit({ type: 'loadEnd', published, acked, inFlight })

  if (inFlight > 0) {
    const drained = new Promise<void>(function waitDrain (resolve) { onDrained = resolve })
    await Promise.race([drained, sleep(spec.drainTimeoutSec * 1000)])
  }
  const unacked = inFlight
  await Promise.all(clients.map(function endClient (client) {
    const ended = client.endAsync(unacked > 0).catch(function ignoreEndError () { /* the result is already counted */ })
    return Promise.race([ended, sleep(3000)])
  }))

  return {
    type: 'result',
    devices: spec.devices.length,
    connected: clients.length,
    connectMs: Math.round(connectMs),
    window: spec.window,
    warmupSec: spec.warmupSec,
    durationSec: Math.round(windowMs) / 1000,
    published,
    acked,
    failed,
    unacked,
    ackedInWindow,
    ackedPerSec: Math.round(ackedInWindow / (windowMs / 1000)),
    latencyMs: summarise(sampler.samples()),
    unexpectedCloses,
    clientErrors,
    generatorCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / windowMs) * 100),
    generatorLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
  }
}

async function main (): Promise<void> {
  const specFile = process.argv[2]
  if (specFile === undefined) throw new Error('usage: load-generator.ts <spec.json>')
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as LoadSpec
  // Hard stop: connect + warm-up + measure + drain + slack; never outlive a runner gone astray.
  const limitMs = (spec.warmupSec + spec.durationSec + spec.drainTimeoutSec + 60) * 1000
  setTimeout(function giveUp () {
    process.stderr.write(`load generator: still running after ${limitMs} ms, exiting\n`)
    process.exit(2)
  }, limitMs).unref()
  emit(await run(spec))
  process.exit(0)
}

main().catch(function failed (err: unknown) {
  process.stderr.write(`load generator failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
