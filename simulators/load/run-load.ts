// `citygw simulate --load` and `npm run bench`: many devices publishing pre-encoded readings of
// their kind, either at a target total rate (open loop; a device with `window` publishes unacked
// skips its turn, counted) or, with no rate, as fast as `window` QoS 1 publishes in flight per
// device allow (closed loop). Out: achieved rates and publish→PUBACK latency (HDR histogram).
// Bounded: connect, warm-up, measure and drain each have a deadline.
import type { IClientOptions } from 'mqtt'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { KindName } from '../../devices/index.ts'
import { openConnection, type Connection } from '../connection.ts'
import { createModel } from '../models/index.ts'
import { createLatencyRecorder, type LatencySummary } from './latency.ts'

export interface LoadOptions {
  readonly url: string
  readonly devices: readonly { readonly id: string; readonly secret: string; readonly kind: KindName }[]
  /** Messages per second over all devices; undefined or 0 = as fast as the window allows. */
  readonly ratePerSec?: number | undefined
  readonly qos: 0 | 1
  /** Publishes in flight per device (QoS 1). */
  readonly window: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly drainTimeoutMs: number
  readonly connectConcurrency: number
  readonly seed: number
  readonly mqttOptions?: IClientOptions
  /** Ends the load early (Ctrl-C); the measured window is then shorter. */
  readonly signal?: AbortSignal
  readonly onPhase?: (phase: 'connected' | 'windowStart' | 'loadEnd', figures: Record<string, number>) => void
  /** Awaited once every device is connected, before the load starts (several load processes start together). */
  readonly beforeLoad?: () => Promise<void>
  /** Adds the latency histogram (`latencyHistogram`) to the result, for merging with other load processes'. */
  readonly keepHistogram?: boolean
  readonly onProgress?: (figures: { published: number; acked: number; connected: number; elapsedMs: number }) => void
}

export interface LoadResult {
  mode: 'load'
  url: string
  qos: 0 | 1
  targetRatePerSec: number | null
  devices: number
  connected: number
  connectMs: number
  window: number
  warmupSec: number
  durationSec: number
  /** Over the whole run (warm-up and drain included). */
  published: number
  acked: number
  failed: number
  unacked: number
  /** Turns skipped because the device had `window` publishes unacknowledged (open loop only). */
  skipped: number
  /** Inside the measured window. */
  publishedInWindow: number
  ackedInWindow: number
  publishedPerSec: number
  ackedPerSec: number
  /** Publish→PUBACK for QoS 1 (inside the measured window); for QoS 0, publish→written to the socket. */
  latencyMs: LatencySummary
  /** With `keepHistogram`: the latencies as a compressed HDR histogram (latency.ts summariseMerged). */
  latencyHistogram?: string
  reconnects: number
  unexpectedCloses: number
  clientErrors: Record<string, number>
  generatorCpuPercent: number
  generatorLoopDelayP99Ms: number
}

const PAYLOADS_PER_KIND = 64

function sleep (ms: number): Promise<void> {
  return new Promise(function wake (resolve) { setTimeout(resolve, ms) })
}

/** Real readings of each kind (without `ts`: stamped on receipt), encoded once. */
export function buildPayloads (seed: number): Record<KindName, Buffer[]> {
  const now = Date.now()
  const result = {} as Record<KindName, Buffer[]>
  for (const kind of ['lamp-post', 'water-pipe', 'manhole'] as const satisfies readonly KindName[]) {
    const model = createModel(kind, { deviceId: `load-${kind}`, seed, latitudeDeg: 52.37, longitudeDeg: 4.89 })
    result[kind] = Array.from({ length: PAYLOADS_PER_KIND }, function makePayload (_, n) {
      const { ts: _ts, ...reading } = model.next(now - (PAYLOADS_PER_KIND - n) * 3_600_000)
      return Buffer.from(JSON.stringify(reading))
    })
  }
  return result
}

interface Device { readonly topic: string; readonly payloads: Buffer[]; readonly connection: Connection; inFlight: number; next: number }

async function connectAll (options: LoadOptions, errors: Record<string, number>, counters: { reconnects: number; closes: number; isLoading: boolean }): Promise<Device[]> {
  const payloads = buildPayloads(options.seed)
  const devices: Device[] = []
  for (let start = 0; start < options.devices.length; start += options.connectConcurrency) {
    const batch = options.devices.slice(start, start + options.connectConcurrency)
    await Promise.all(batch.map(async function connectOne (spec, offset) {
      let resolveConnected: () => void = function none () { /* replaced below */ }
      const connected = new Promise<void>(function waitConnected (resolve) { resolveConnected = resolve })
      const connection = openConnection({
        url: options.url, clientId: spec.id, username: spec.id, password: spec.secret, backoffBaseMs: 500, backoffMaxMs: 5000,
        ...(options.mqttOptions === undefined ? {} : { mqttOptions: options.mqttOptions }),
        onConnect: function connectedOnce (isReconnect) { if (isReconnect) counters.reconnects++; resolveConnected() },
        onClose: function countClose () { if (counters.isLoading) counters.closes++ },
      })
      connection.client.on('error', function keepError (err) { errors[err.message] = (errors[err.message] ?? 0) + 1 })
      devices[start + offset] = { topic: `devices/${spec.id}/telemetry`, payloads: payloads[spec.kind], connection, inFlight: 0, next: (start + offset) % PAYLOADS_PER_KIND }
      await Promise.race([connected, sleep(15_000)])
    }))
  }
  return devices
}

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const clientErrors: Record<string, number> = {}
  const counters = { reconnects: 0, closes: 0, isLoading: false }
  const connectStart = performance.now()
  const devices = await connectAll(options, clientErrors, counters)
  const connectMs = Math.round(performance.now() - connectStart)
  const connected = devices.filter(function isUp (d) { return d.connection.isConnected() }).length
  options.onPhase?.('connected', { connected, connectMs })
  await options.beforeLoad?.()

  const latency = createLatencyRecorder()
  const rate = options.ratePerSec !== undefined && options.ratePerSec > 0 ? options.ratePerSec : undefined
  let published = 0
  let acked = 0
  let failed = 0
  let skipped = 0
  let publishedInWindow = 0
  let ackedInWindow = 0
  let isMeasuring = false
  let cursor = 0

  function publishOn (device: Device): void {
    const payload = device.payloads[device.next] as Buffer
    device.next = (device.next + 1) % PAYLOADS_PER_KIND
    const sentAt = performance.now()
    device.inFlight++
    published++
    if (isMeasuring) publishedInWindow++
    device.connection.client.publish(device.topic, payload, { qos: options.qos }, function onAck (err) {
      device.inFlight--
      if (err !== undefined && err !== null) {
        failed++
      } else {
        acked++
        if (isMeasuring) { ackedInWindow++; latency.record(performance.now() - sentAt) }
      }
      if (rate === undefined && counters.isLoading) fill(device)
    })
  }
  function fill (device: Device): void {
    while (counters.isLoading && device.inFlight < options.window && device.connection.isConnected()) publishOn(device)
  }
  /** Open loop: the next device in turn that may publish, or a skipped turn. */
  function publishNext (): void {
    const device = devices[cursor] as Device
    cursor = (cursor + 1) % devices.length
    if (device.inFlight < options.window && device.connection.isConnected()) publishOn(device)
    else skipped++
  }

  counters.isLoading = true
  const loadStart = performance.now()
  const loadEnd = loadStart + options.warmupMs + options.durationMs
  let windowStart = loadStart
  let cpuStart = process.cpuUsage()
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  let scheduled = 0
  const progress = setInterval(function reportProgress () {
    options.onProgress?.({ published, acked, connected: devices.filter(function isUp (d) { return d.connection.isConnected() }).length, elapsedMs: performance.now() - loadStart })
  }, 1000)
  try {
    if (rate === undefined) for (const device of devices) fill(device)
    while (performance.now() < loadEnd && options.signal?.aborted !== true) {
      if (!isMeasuring && performance.now() >= loadStart + options.warmupMs) {
        isMeasuring = true
        windowStart = performance.now()
        cpuStart = process.cpuUsage()
        loopDelay.enable()
        options.onPhase?.('windowStart', { published, acked })
      }
      if (rate === undefined) {
        for (const device of devices) if (device.inFlight === 0) fill(device) // after a reconnect
      } else {
        const due = Math.floor(((performance.now() - loadStart) / 1000) * rate)
        while (scheduled < due) { scheduled++; publishNext() }
      }
      await sleep(rate === undefined ? 50 : 2)
    }
  } finally {
    clearInterval(progress)
  }
  counters.isLoading = false
  isMeasuring = false
  const windowMs = Math.max(1, performance.now() - windowStart)
  const cpu = process.cpuUsage(cpuStart)
  loopDelay.disable()
  const inFlight = function countInFlight (): number { return devices.reduce(function sum (n, d) { return n + d.inFlight }, 0) }
  options.onPhase?.('loadEnd', { published, acked, inFlight: inFlight() })
  const drainDeadline = performance.now() + options.drainTimeoutMs
  while (inFlight() > 0 && performance.now() < drainDeadline) await sleep(20)
  const unacked = options.qos === 1 ? inFlight() : 0
  await Promise.all(devices.map(function endDevice (d) { return Promise.race([d.connection.end(unacked > 0).catch(function ignore () { /* counted above */ }), sleep(3000)]) }))

  return {
    mode: 'load',
    url: options.url,
    qos: options.qos,
    targetRatePerSec: rate ?? null,
    devices: options.devices.length,
    connected,
    connectMs,
    window: options.window,
    warmupSec: options.warmupMs / 1000,
    durationSec: Math.round(windowMs) / 1000,
    published,
    acked,
    failed,
    unacked,
    skipped,
    publishedInWindow,
    ackedInWindow,
    publishedPerSec: Math.round(publishedInWindow / (windowMs / 1000)),
    ackedPerSec: Math.round(ackedInWindow / (windowMs / 1000)),
    latencyMs: latency.summary(),
    ...(options.keepHistogram === true ? { latencyHistogram: latency.encoded() } : {}),
    reconnects: counters.reconnects,
    unexpectedCloses: counters.closes,
    clientErrors,
    generatorCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / windowMs) * 100),
    generatorLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e4) / 100,
  }
}
