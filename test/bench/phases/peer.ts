// Phase 2, the peer baseline: Debian's Mosquitto plus a plain Node bridge (peer-bridge.ts) into its
// own InfluxDB, same load without credentials. Leaves: readings stored per second of the window.
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freeLoopbackPort } from '../../../simulators/free-port.ts'
import { startLocalInfluxDb } from '../../../simulators/local-influxdb.ts'
import { countPeerStored } from '../influx-count.ts'
import { runLoad, type LoadDevices, type LoadRun } from '../load-run.ts'
import { startProcess, stopInReverse, type Stop } from '../processes.ts'
import { say } from '../say.ts'
import { REPO_ROOT, type Settings } from '../settings.ts'

const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto']

/** The Mosquitto binary; throws with the install command when it is missing. */
export function mosquittoPath (): string {
  const found = MOSQUITTO_PATHS.find(function exists (p) { return existsSync(p) })
  if (found === undefined) throw new Error('mosquitto is missing: the peer baseline runs Debian\'s broker (apt-get install -y mosquitto)')
  return found
}

async function waitForPort (port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const isOpen = await new Promise<boolean>(function probe (resolve) {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', function opened () { socket.destroy(); resolve(true) })
      socket.once('error', function refused () { resolve(false) })
    })
    if (isOpen) return
    await sleep(100)
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
}

export interface PeerRun {
  load: LoadRun
  /** Readings whose receive time lies in the measured window, per second. */
  storedPerSec: number
  storedInWindow: number
  stored: number
  bridge: { received?: number; written?: number; writeErrors?: number }
  flushMs: number
}

export async function runPeerBench (settings: Settings, devices: LoadDevices, tmp: string): Promise<PeerRun> {
  const mosquitto = mosquittoPath()
  say('peer: Mosquitto + MQTT.js → @influxdata/influxdb-client bridge, InfluxDB 1.x…')
  const influx = await startLocalInfluxDb(join(tmp, 'influxdb-peer'), 'city') // killed on exit, like every child
  const stops: Stop[] = [function stopInflux () { return influx.stop() }]
  try {
    const port = await freeLoopbackPort()
    const configFile = join(tmp, 'mosquitto.conf')
    await writeFile(configFile, [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'))
    const broker = startProcess('mosquitto', ['-c', configFile], { cwd: tmp, env: process.env, command: mosquitto })
    stops.push(function stopMosquitto () { return broker.stop(5000) })
    await waitForPort(port, 10_000)
    const mqttUrl = `mqtt://127.0.0.1:${port}`
    const bridge = startProcess('peer bridge', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/peer-bridge.ts')], {
      cwd: REPO_ROOT, env: { ...process.env, PEER_MQTT_URL: mqttUrl, PEER_INFLUX_URL: influx.url, PEER_DATABASE: 'city' },
    })
    stops.push(function stopBridge () { return bridge.stop(10_000) })
    await bridge.waitForLine(function isReady (l) { return l.msg === 'bridge ready' }, 20_000)
    let windowStartMs = 0
    let windowEndMs = 0
    // Mosquitto acknowledges several times faster than Aedes, and one lean generator driving it came
    // near a whole core (up to 95 %): two processes share the devices, so that neither is the limit.
    const peerSettings: Settings = { ...settings, generators: Math.max(2, settings.generators) }
    const load = await runLoad('peer', mqttUrl, broker.pid, devices, peerSettings, tmp, {
      onWindowStart () { windowStartMs = Date.now() },
      onLoadEnd () { windowEndMs = Date.now() },
    })
    // The WriteApi holds up to a batch (1000 lines) until its 60 s flush interval or close(): wait
    // for the count to stop growing, then stop the bridge (it flushes on SIGTERM).
    const flushStart = performance.now()
    let last = -1
    for (let i = 0; i < 40; i++) {
      const n = await countPeerStored(influx)
      if (n === last) break
      last = n
      await sleep(750)
    }
    await bridge.stop(15_000)
    const flushMs = Math.round(performance.now() - flushStart)
    const stopped = bridge.lines().find(function isStopped (l) { return l.msg === 'bridge stopped' }) as PeerRun['bridge'] | undefined
    const stored = await countPeerStored(influx)
    const storedInWindow = await countPeerStored(influx, `time >= ${windowStartMs}ms AND time < ${windowEndMs}ms`)
    const windowSec = Math.max(0.001, (windowEndMs - windowStartMs) / 1000)
    return { load, storedPerSec: Math.round(storedInWindow / windowSec), storedInWindow, stored, bridge: stopped ?? {}, flushMs }
  } finally {
    await stopInReverse(stops, 'peer cleanup')
  }
}
