// Alarm latency probe for `npm run bench`, in its own process: a crew subscriber (MQTT.js, QoS 1,
// `alarms/#`) and a few manhole devices that cycle one alarm each: coverAngle 120 at ts T (raises
// coverOpen at once), coverAngle 1 at T+1 (starts the 60 s clear hold), coverAngle 1 at T+62
// (clears). Measures publish → the crew receives the `active` / `cleared` message.
// Enters: a JSON spec file (argv[2]); stdin lines `start`, `stop` (any number of rounds), `quit`.
// Leaves: JSON lines on stdout — {type:'ready'} once everyone is connected and subscribed,
// {type:'result', round} after each `stop`.
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { connectAsync, type MqttClient } from 'mqtt'
import { createLatencyRecorder } from '../../simulators/load/latency.ts'

export interface AlarmProbeSpec {
  url: string
  crew: { name: string; secret: string }
  devices: { id: string; secret: string }[]
  /** Pause between two alarm cycles of one device. */
  pauseMs: number
  /** Longest wait for one alarm message before the probe counts it missing. */
  messageTimeoutMs: number
  /** Hard stop of the whole process. */
  maxSec: number
}

export interface AlarmProbeResult {
  type: 'result'
  round: number
  raised: ReturnType<ReturnType<typeof createLatencyRecorder>['summary']>
  cleared: ReturnType<ReturnType<typeof createLatencyRecorder>['summary']>
  all: ReturnType<ReturnType<typeof createLatencyRecorder>['summary']>
  missing: number
  publishErrors: number
  durationSec: number
  /**
   * The probe's own event loop delay beyond its 1 ms timer, p99 and max (ms), and its CPU (% of a
   * core) during the round: an alarm counts late also when the probe itself waited for the CPU.
   */
  probeLoopDelayP99Ms: number
  probeLoopDelayMaxMs: number
  probeCpuPercent: number
}

function emit (line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

function sleep (ms: number): Promise<void> {
  return new Promise(function wake (resolve) { setTimeout(resolve, ms) })
}

interface Waiter { state: string; resolve: (receivedAt: number | undefined) => void }

async function main (): Promise<void> {
  const specFile = process.argv[2]
  if (specFile === undefined) throw new Error('usage: alarm-probe.ts <spec.json>')
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as AlarmProbeSpec
  setTimeout(function giveUp () {
    process.stderr.write(`alarm probe: still running after ${spec.maxSec} s, exiting\n`)
    process.exit(2)
  }, spec.maxSec * 1000).unref()

  const waiters = new Map<string, Waiter>()
  const crew = await connectAsync(spec.url, { clientId: 'bench-crew-probe', username: spec.crew.name, password: spec.crew.secret, reconnectPeriod: 0, connectTimeout: 10_000 })
  crew.on('message', function onAlarm (topic, payload, packet) {
    const receivedAt = performance.now()
    if (packet.retain) return // a retained alarm from before; live ones arrive without the flag
    let alarm: { deviceId?: unknown; state?: unknown; type?: unknown }
    try {
      alarm = JSON.parse(payload.toString('utf8')) as typeof alarm
    } catch {
      return
    }
    if (alarm.type !== 'coverOpen' || typeof alarm.deviceId !== 'string') return
    const waiter = waiters.get(alarm.deviceId)
    if (waiter !== undefined && waiter.state === alarm.state) {
      waiters.delete(alarm.deviceId)
      waiter.resolve(receivedAt)
    }
  })
  await crew.subscribeAsync('alarms/#', { qos: 1 })
  const devices: { id: string; client: MqttClient }[] = []
  for (const d of spec.devices) {
    devices.push({ id: d.id, client: await connectAsync(spec.url, { clientId: d.id, username: d.id, password: d.secret, reconnectPeriod: 0, connectTimeout: 10_000 }) })
  }
  emit({ type: 'ready', devices: devices.length })

  let raised = createLatencyRecorder()
  let cleared = createLatencyRecorder()
  let all = createLatencyRecorder()
  let round = 0
  let missing = 0
  let publishErrors = 0
  let isRunning = false
  let startedAt = 0
  let cpuAtStart = process.cpuUsage()
  const loopDelay = monitorEventLoopDelay({ resolution: 1 })
  /** The histogram records whole timer periods: what exceeds the 1 ms period is the delay. */
  function delayMs (ns: number): number {
    return Math.round(Math.max(0, ns / 1e6 - 1) * 100) / 100
  }

  function expect (id: string, state: string): Promise<number | undefined> {
    return new Promise(function waitAlarm (resolve) {
      const timer = setTimeout(function missed () {
        waiters.delete(id)
        resolve(undefined)
      }, spec.messageTimeoutMs)
      waiters.set(id, { state, resolve (at) { clearTimeout(timer); resolve(at) } })
    })
  }

  async function publish (client: MqttClient, id: string, reading: object): Promise<void> {
    try {
      await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify(reading), { qos: 1 })
    } catch {
      publishErrors++
    }
  }

  async function measured (client: MqttClient, id: string, state: string, reading: object, recorder: () => typeof raised): Promise<void> {
    const arrival = expect(id, state)
    const sentAt = performance.now()
    await publish(client, id, reading)
    const at = await arrival
    if (at === undefined) {
      missing++
      return
    }
    recorder().record(at - sentAt)
    all.record(at - sentAt)
  }

  function raisedRecorder (): typeof raised { return raised }
  function clearedRecorder (): typeof raised { return cleared }
  // Simulated time per device: starts 6 h back (inside the backfill window), 120 s per cycle, never in the future.
  const tsOf = new Map<string, number>()
  async function cycle (device: { id: string; client: MqttClient }, offset: number): Promise<void> {
    let ts = tsOf.get(device.id) ?? Date.now() - 6 * 3_600_000 + offset * 1000
    await sleep(offset * Math.max(1, Math.floor(spec.pauseMs / Math.max(1, devices.length))))
    while (isRunning) {
      await measured(device.client, device.id, 'active', { ts, coverAngle: 120 }, raisedRecorder)
      await publish(device.client, device.id, { ts: ts + 1000, coverAngle: 1 })
      await measured(device.client, device.id, 'cleared', { ts: ts + 62_000, coverAngle: 1 }, clearedRecorder)
      ts += 120_000
      tsOf.set(device.id, ts)
      await sleep(spec.pauseMs)
    }
  }

  let cycles: Promise<void>[] = []
  const lines = createInterface({ input: process.stdin })
  lines.on('line', function onCommand (text) {
    if (text.trim() === 'start' && !isRunning) {
      isRunning = true
      round++
      raised = createLatencyRecorder()
      cleared = createLatencyRecorder()
      all = createLatencyRecorder()
      missing = 0
      publishErrors = 0
      startedAt = performance.now()
      cpuAtStart = process.cpuUsage()
      loopDelay.reset()
      loopDelay.enable()
      cycles = devices.map(function runDevice (d, i) { return cycle(d, i) })
    } else if (text.trim() === 'stop' && isRunning) {
      isRunning = false
      void Promise.all(cycles).then(function report () {
        loopDelay.disable()
        const cpu = process.cpuUsage(cpuAtStart)
        const elapsedMs = performance.now() - startedAt
        const result: AlarmProbeResult = {
          type: 'result',
          round,
          raised: raised.summary(),
          cleared: cleared.summary(),
          all: all.summary(),
          missing,
          publishErrors,
          durationSec: Math.round(elapsedMs) / 1000,
          probeLoopDelayP99Ms: delayMs(loopDelay.percentile(99)),
          probeLoopDelayMaxMs: delayMs(loopDelay.max),
          probeCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, elapsedMs)) * 1000) / 10,
        }
        emit(result)
      })
    } else if (text.trim() === 'quit') {
      isRunning = false
      void Promise.all(cycles).then(async function finish () {
        await Promise.all([crew, ...devices.map(function clientOf (d) { return d.client })].map(function endClient (c) {
          return Promise.race([c.endAsync(), sleep(2000)])
        }))
        process.exit(0)
      })
    }
  })
  lines.once('close', function runnerGone () { process.exit(0) })
}

main().catch(function failed (err: unknown) {
  process.stderr.write(`alarm probe failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
