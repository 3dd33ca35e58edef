// Phase 4: alarm latency on the gateway of the throughput run. The alarm probe (its own process)
// cycles coverOpen on its manholes while a crew listens on alarms/#: first with no other load, then
// with open-loop load at half, then a quarter, of the gateway's throughput; when the half round
// found the gateway saturated, also at half and a quarter of what it reached there (the open-loop
// maximum). Leaves: latency figures.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AlarmProbeResult, AlarmProbeSpec } from '../alarm-probe.ts'
import type { BenchGateway } from '../gateway.ts'
import { runLoad, type LoadRun } from '../load-run.ts'
import { startProcess } from '../processes.ts'
import { say } from '../say.ts'
import { REPO_ROOT, type Settings } from '../settings.ts'

export interface AlarmRun {
  ratePerSec: number
  load: LoadRun
  probe: AlarmProbeResult
  /** The same probe with no other load first: what the alarm path itself costs. */
  idle: AlarmProbeResult
}

const ALARM_IDLE_SEC = 3

/**
 * Open-loop load at each rate `nextRate` gives (it sees the rounds so far; undefined ends the
 * phase) while the alarm probe cycles coverOpen on its own devices. One probe process throughout:
 * its readings' times move on from round to round (the engine does not judge a reading older than
 * the newest it saw from a device).
 */
async function runAlarmRounds (gw: BenchGateway, probeSpec: AlarmProbeSpec, nextRate: (done: readonly AlarmRun[]) => number | undefined, settings: Settings, tmp: string): Promise<AlarmRun[]> {
  say(`alarm latency: ${probeSpec.devices.length} manholes cycling coverOpen, crew on alarms/#, open-loop load in rounds…`)
  const specFile = join(tmp, 'alarm-probe.json')
  await writeFile(specFile, JSON.stringify(probeSpec), { mode: 0o600 })
  const probe = startProcess('alarm probe', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/alarm-probe.ts'), specFile], { cwd: REPO_ROOT, env: process.env })
  try {
    await probe.waitForLine(function isReady (l) { return l.type === 'ready' }, 20_000)
    probe.child.stdin?.write('start\n')
    await sleep(ALARM_IDLE_SEC * 1000)
    probe.child.stdin?.write('stop\n')
    const idle = await probe.waitForLine<AlarmProbeResult>(function isIdleResult (l) { return l.type === 'result' && l.round === 1 }, 30_000)
    const runs: AlarmRun[] = []
    for (let ratePerSec = nextRate(runs); ratePerSec !== undefined; ratePerSec = nextRate(runs)) {
      const load = await runLoad('gateway-alarms', gw.mqttUrl, gw.process.pid, gw.loadDevices, settings, tmp, {
        ratePerSec,
        warmupSec: 1,
        durationSec: settings.alarmSec,
        database: gw.influx,
        onWindowStart () { probe.child.stdin?.write('start\n') },
        onLoadEnd () { probe.child.stdin?.write('stop\n') },
      })
      const round = runs.length + 2
      const result = await probe.waitForLine<AlarmProbeResult>(function isResult (l) { return l.type === 'result' && l.round === round }, 30_000)
      runs.push({ ratePerSec, load, probe: result, idle })
    }
    probe.child.stdin?.write('quit\n')
    return runs
  } finally {
    await probe.stop(3000)
  }
}

/** A round that reached less than this share of its asked rate found the gateway saturated. */
const SATURATED_SHARE = 0.95

export interface AlarmPhase {
  /** At half the closed-loop throughput (the rate the target is for) and at a quarter of it. */
  half: AlarmRun
  quarter: AlarmRun
  /**
   * When the half round found the gateway saturated: what it reached there, the most the gateway
   * acknowledges when every device sends one message at a time, and rounds at half and a quarter
   * of that (information, no target).
   */
  openLoop?: { maximumPerSec: number; half: AlarmRun; quarter: AlarmRun }
}

function shareOf (perSec: number, divisor: number): number {
  return Math.max(1, Math.round(perSec / divisor))
}

/**
 * Rounds at half and a quarter of the gateway's closed-loop throughput `throughputPerSec`, then, if
 * the first of them could not be kept up, at half and a quarter of what it reached.
 */
export async function runAlarmPhase (gw: BenchGateway, throughputPerSec: number, settings: Settings, tmp: string): Promise<AlarmPhase> {
  const probeSpec: AlarmProbeSpec = {
    url: gw.mqttUrl,
    crew: gw.crew,
    devices: gw.probeDevices,
    pauseMs: 200,
    messageTimeoutMs: 5000,
    maxSec: settings.alarmSec * 4 + 120,
  }
  function openLoopMaximum (halfRound: AlarmRun): number | undefined {
    const reached = halfRound.load.ackedPerSec
    return reached < halfRound.ratePerSec * SATURATED_SHARE ? reached : undefined
  }
  const [half, quarter, openLoopHalf, openLoopQuarter] = await runAlarmRounds(gw, probeSpec, function nextRate (done) {
    if (done.length < 2) return shareOf(throughputPerSec, done.length === 0 ? 2 : 4)
    const maximum = done[0] === undefined ? undefined : openLoopMaximum(done[0])
    if (maximum === undefined || done.length >= 4) return undefined
    return shareOf(maximum, done.length === 2 ? 2 : 4)
  }, settings, tmp)
  if (half === undefined || quarter === undefined) throw new Error('alarm phase: a round is missing')
  const maximumPerSec = openLoopMaximum(half)
  return {
    half,
    quarter,
    ...(maximumPerSec === undefined || openLoopHalf === undefined || openLoopQuarter === undefined ? {} : { openLoop: { maximumPerSec, half: openLoopHalf, quarter: openLoopQuarter } }),
  }
}
