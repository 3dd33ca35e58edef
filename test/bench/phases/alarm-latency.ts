// Phase 4: alarm latency on the gateway of the throughput run. The alarm probe (its own process)
// cycles coverOpen on its manholes while a crew listens on alarms/#: first with no other load, then
// with open-loop load at half, then a quarter, of the gateway's throughput. Leaves: latency figures.
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
 * Open-loop load at each of `rates` in turn while the alarm probe cycles coverOpen on its own
 * devices. One probe process throughout: its readings' times move on from round to round (the
 * engine does not judge a reading older than the newest it saw from a device).
 */
async function runAlarmRounds (gw: BenchGateway, probeSpec: AlarmProbeSpec, rates: readonly number[], settings: Settings, tmp: string): Promise<AlarmRun[]> {
  say(`alarm latency: ${probeSpec.devices.length} manholes cycling coverOpen, crew on alarms/#, load at ${rates.join(', then ')} msgs/s…`)
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
    for (const [index, ratePerSec] of rates.entries()) {
      const load = await runLoad('gateway-alarms', gw.mqttUrl, gw.process.pid, gw.loadDevices, settings, tmp, {
        ratePerSec,
        warmupSec: 1,
        durationSec: settings.alarmSec,
        database: gw.influx,
        onWindowStart () { probe.child.stdin?.write('start\n') },
        onLoadEnd () { probe.child.stdin?.write('stop\n') },
      })
      const round = index + 2
      const result = await probe.waitForLine<AlarmProbeResult>(function isResult (l) { return l.type === 'result' && l.round === round }, 30_000)
      runs.push({ ratePerSec, load, probe: result, idle })
    }
    probe.child.stdin?.write('quit\n')
    return runs
  } finally {
    await probe.stop(3000)
  }
}

/**
 * At half the gateway's throughput `throughputPerSec` (the rate the target is for), then at a
 * quarter (no target: where the latency curve stands at half that load).
 */
export async function runAlarmPhase (gw: BenchGateway, throughputPerSec: number, settings: Settings, tmp: string): Promise<{ half: AlarmRun; quarter: AlarmRun }> {
  const probeSpec: AlarmProbeSpec = {
    url: gw.mqttUrl,
    crew: gw.crew,
    devices: gw.probeDevices,
    pauseMs: 200,
    messageTimeoutMs: 5000,
    maxSec: settings.alarmSec + 120,
  }
  const [half, quarter] = await runAlarmRounds(gw, probeSpec, [2, 4].map(function share (divisor) {
    return Math.max(1, Math.round(throughputPerSec / divisor))
  }), settings, tmp)
  if (half === undefined || quarter === undefined) throw new Error('alarm phase: a round is missing')
  return { half, quarter }
}
