// `citygw simulate` without --load: a fleet of simulated devices reporting their models' readings
// (with injected faults) over MQTT, in compressed simulated time. In: credentials, timing, faults.
// Out: a summary of what was sent, acknowledged, rejected and which alarms a crew saw. Bounded:
// it stops once every scheduled reading is sent and acknowledged, or at a hard deadline.
import type { IClientOptions } from 'mqtt'
import { formatAlarm, summariseAlarms, watchAlarms, type AlarmEvent, type AlarmWatcher } from './alarm-watcher.ts'
import { openConnection, type Connection } from './connection.ts'
import { createDeviceScript, type DeviceScript, type Emission, type SimDevice } from './device-script.ts'
import { createRandom, deviceSeed } from './random.ts'
import type { Injection } from './scenarios/index.ts'

export interface SimulationOptions {
  readonly url: string
  readonly devices: readonly (SimDevice & { readonly secret: string })[]
  readonly crew?: { readonly name: string; readonly secret: string } | undefined
  readonly seed: number
  /** Simulated ms between two readings of one device. */
  readonly intervalMs: number
  /** Simulated time runs this many times faster than real time (never past the real clock). */
  readonly speed: number
  /** Simulated epoch ms of the first reading, and how much simulated time the run covers (Infinity: until `signal`). */
  readonly startMs: number
  readonly spanMs: number
  readonly injections: readonly Injection[]
  /** QoS 1 publishes in flight per device; more readings wait (the device buffers). Default 20. */
  readonly windowPerDevice?: number
  readonly backoffBaseMs?: number
  readonly backoffMaxMs?: number
  readonly mqttOptions?: IClientOptions
  /** A connected device whose PUBACKs have not come for this long is not waited for at the end. Default 10000 ms. */
  readonly ackTimeoutMs?: number
  /** After the last acknowledgement, how long to keep listening for alarms. Default 1500 ms. */
  readonly settleMs?: number
  readonly onEmission?: (device: SimDevice, timeMs: number, emission: Emission) => void
  readonly onAlarm?: (event: AlarmEvent) => void
  readonly onStatus?: (status: SimulationStatus) => void
  /** Stops the run early (Ctrl-C): nothing more is sent; what is in flight is awaited briefly. */
  readonly signal?: AbortSignal
}

export interface SimulationStatus {
  simTimeMs: number
  devices: number
  connected: number
  sent: number
  acknowledged: number
  failed: number
  rejected: number
  notices: number
  reconnects: number
  alarmsSeen: number
  crewConnected: boolean | undefined
}

export interface SimulationSummary extends SimulationStatus {
  mode: 'simulate'
  url: string
  seed: number
  speed: number
  intervalSec: number
  simStart: string
  simEnd: string
  realSec: number
  /** Readings scheduled but never sent (the hard deadline passed), and publishes never acknowledged. */
  unsent: number
  unacknowledged: number
  byKind: Record<string, number>
  scenarios: { name: string; deviceId: string; alarm: string | null; from: string; until: string | null }[]
  alarms: ReturnType<typeof summariseAlarms> & { events: AlarmEvent[] }
}

interface LiveDevice {
  readonly device: SimDevice
  readonly connection: Connection
  readonly script: DeviceScript
  nextMs: number
  inFlight: number
  /** Real time of the last publish or PUBACK: a PUBACK lost with a connection is not awaited forever. */
  lastActivityMs: number
}

function sleep (ms: number): Promise<void> {
  return new Promise(function wake (resolve) { setTimeout(resolve, ms) })
}

export async function runSimulation (options: SimulationOptions): Promise<SimulationSummary> {
  const window = options.windowPerDevice ?? 20
  const ackTimeoutMs = options.ackTimeoutMs ?? 10_000
  const endMs = options.startMs + options.spanMs
  const realStart = Date.now()
  const status: SimulationStatus = {
    simTimeMs: options.startMs, devices: options.devices.length, connected: 0, sent: 0, acknowledged: 0, failed: 0,
    rejected: 0, notices: 0, reconnects: 0, alarmsSeen: 0, crewConnected: options.crew === undefined ? undefined : false,
  }
  const watcher: AlarmWatcher | undefined = options.crew === undefined
    ? undefined
    : watchAlarms(options.url, options.crew, [...new Set(options.devices.map(function districtOf (d) { return d.district }))], function onAlarm (event) {
      if (!event.isRetained) status.alarmsSeen++
      options.onAlarm?.(event)
    }, options.mqttOptions)

  const live: LiveDevice[] = options.devices.map(function startDevice (device, index) {
    const script = createDeviceScript(device, options.seed, options.injections)
    const connection = openConnection({
      url: options.url,
      firstServer: index,
      clientId: device.id,
      username: device.id,
      password: device.secret,
      subscriptions: [`devices/${device.id}/errors`],
      ...(options.backoffBaseMs === undefined ? {} : { backoffBaseMs: options.backoffBaseMs }),
      ...(options.backoffMaxMs === undefined ? {} : { backoffMaxMs: options.backoffMaxMs }),
      ...(options.mqttOptions === undefined ? {} : { mqttOptions: options.mqttOptions }),
      onConnect: function countConnect (isReconnect) { countConnected(); if (isReconnect) status.reconnects++ },
      onClose: countConnected,
      onMessage: function countNotice (_topic, payload) {
        status.notices++
        try {
          const notice = JSON.parse(payload.toString('utf8')) as { rejected?: unknown }
          if (typeof notice.rejected === 'number') status.rejected += notice.rejected
        } catch {
          status.rejected++ // a notice we cannot read still says something was wrong
        }
      },
    })
    // Devices do not all report at the same instant: a fixed phase per device within one interval.
    const phase = Math.floor(createRandom(deviceSeed(options.seed, device.id, 'phase'))() * options.intervalMs)
    return { device, connection, script, nextMs: options.startMs + phase, inFlight: 0, lastActivityMs: Date.now() }
  })

  function countConnected (): void {
    status.connected = live.filter(function isUp (d) { return d.connection.isConnected() }).length
  }

  function publishDue (device: LiveDevice, simNowMs: number): void {
    let budget = 50
    while (device.nextMs <= simNowMs && device.nextMs < endMs && budget-- > 0 &&
      device.connection.isConnected() && device.inFlight < window) {
      const timeMs = device.nextMs
      device.nextMs += options.intervalMs
      const emission = device.script.emit(timeMs)
      options.onEmission?.(device.device, timeMs, emission)
      if (emission.type === 'silent') continue
      device.inFlight++
      device.lastActivityMs = Date.now()
      status.sent++
      device.connection.client.publish(`devices/${device.device.id}/telemetry`, emission.payload, { qos: 1 }, function onPuback (err) {
        device.inFlight--
        device.lastActivityMs = Date.now()
        if (err === undefined || err === null) status.acknowledged++
        else status.failed++
      })
    }
  }

  const realSpanMs = options.spanMs / options.speed
  const tickMs = Math.max(5, Math.min(200, options.intervalMs / options.speed / 4))
  const hardDeadline = realStart + realSpanMs + 30_000 + options.devices.length * 20
  let connectedAtEnd: number
  const statusTimer = setInterval(function reportStatus () { options.onStatus?.({ ...status, crewConnected: watcher?.isConnected() }) }, 1000)
  try {
    // Alarms raised by the first readings must not be missed: give the crew a moment to subscribe.
    const crewDeadline = Date.now() + 5000
    while (watcher !== undefined && !watcher.isConnected() && Date.now() < crewDeadline) await sleep(20)
    while (Date.now() < hardDeadline && options.signal?.aborted !== true) {
      status.simTimeMs = Math.min(options.startMs + (Date.now() - realStart) * options.speed, Date.now(), endMs)
      for (const device of live) publishDue(device, status.simTimeMs)
      const isSettled = (d: LiveDevice): boolean => d.inFlight === 0 || (d.connection.isConnected() && Date.now() - d.lastActivityMs > ackTimeoutMs)
      if (live.every(function isDone (d) { return d.nextMs >= endMs && isSettled(d) })) break
      await sleep(tickMs)
    }
    const drainDeadline = Date.now() + 5000
    while (options.signal?.aborted === true && live.some(function hasInFlight (d) { return d.inFlight > 0 }) && Date.now() < drainDeadline) await sleep(20)
    await sleep(options.signal?.aborted === true ? 200 : options.settleMs ?? 1500)
  } finally {
    clearInterval(statusTimer)
    countConnected()
    status.crewConnected = watcher?.isConnected()
    connectedAtEnd = status.connected
    await Promise.all(live.map(function endDevice (d) { return Promise.race([d.connection.end(d.inFlight > 0), sleep(3000)]) }))
    await watcher?.close()
  }

  const unsent = !Number.isFinite(endMs) ? 0 : live.reduce(function countUnsent (sum, d) { return sum + Math.max(0, Math.ceil((endMs - d.nextMs) / options.intervalMs)) }, 0)
  const byKind: Record<string, number> = {}
  for (const device of options.devices) byKind[device.kind] = (byKind[device.kind] ?? 0) + 1
  const events = [...(watcher?.events ?? [])]
  return {
    mode: 'simulate',
    url: options.url,
    seed: options.seed,
    speed: options.speed,
    intervalSec: options.intervalMs / 1000,
    simStart: new Date(options.startMs).toISOString(),
    simEnd: new Date(Number.isFinite(endMs) ? endMs : status.simTimeMs).toISOString(),
    realSec: Math.round((Date.now() - realStart) / 100) / 10,
    ...status,
    connected: connectedAtEnd,
    unsent,
    unacknowledged: status.sent - status.acknowledged - status.failed,
    byKind,
    scenarios: options.injections.map(function describeInjection (i) {
      return {
        name: i.scenario.name,
        deviceId: i.deviceId,
        alarm: i.scenario.alarm ?? null,
        from: new Date(i.startMs).toISOString(),
        until: Number.isFinite(i.endMs) ? new Date(i.endMs).toISOString() : null,
      }
    }),
    alarms: { ...summariseAlarms(events), events },
  }
}

export { formatAlarm }
