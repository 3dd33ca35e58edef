// A short loop for working on the gateway's speed: bare Aedes and the gateway's closed-loop
// throughput (QUICK_SKIP_BARE=1: the gateway only), with QUICK_ALARM=1 the alarm phase after it,
// with QUICK_OUTAGE=1 the InfluxDB outage phase, and with BENCH_PROFILE=1 the main thread's µs per
// message by pipeline stage (of the alarm phase's half-rate window too). The same phases and
// settings as `npm run bench`, none of its other phases; one JSON object on stderr.
// `node --import tsx test/bench/quick.ts`
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { summariseCpuProfile, type ProfileSummary, type ProfileWindow } from './cpu-profile.ts'
import { startBenchGateway, stopBenchGateway } from './gateway.ts'
import { loadFigures, makeDevices } from './load-run.ts'
import { runAlarmPhase, type AlarmRun } from './phases/alarm-latency.ts'
import { runBaseline } from './phases/bare-aedes.ts'
import { runOutagePhase } from './phases/outage.ts'
import { runThroughput } from './phases/gateway-throughput.ts'
import { rssMb, stopInReverse, type Stop } from './processes.ts'
import { probeFigures } from './results.ts'
import { REPO_ROOT, readSettings } from './settings.ts'


function alarmFigures (run: AlarmRun): Record<string, unknown> {
  return { askedPerSec: run.ratePerSec, load: loadFigures(run.load), alarmMs: run.probe.all, missing: run.probe.missing, ...probeFigures(run) }
}

/** Main-thread µs per acknowledged message of `window`, by stage. */
async function stagesOf (file: string, window: ProfileWindow, acked: number): Promise<Record<string, number>> {
  const summary: ProfileSummary = await summariseCpuProfile(file, REPO_ROOT, window)
  const busyUs = (summary.totalMs - summary.idleMs) * 1000
  return Object.fromEntries(summary.stages.map(function usOf (stage) {
    return [stage.name, Math.round((busyUs * stage.percent) / 100 / Math.max(1, acked) * 100) / 100]
  }))
}

const settings = readSettings()
const tmp = await mkdtemp(join(os.tmpdir(), 'citygw-quick-'))
const cleanups: Stop[] = []
try {
  const devices = makeDevices(Math.max(settings.devices, settings.openLoopDevices))
  const withoutCredentials = devices.map(function noSecret (d) { return { id: d.id, kind: d.kind, secret: 'unused' } })
  const bare = process.env.QUICK_SKIP_BARE === '1' ? undefined : await runBaseline(settings, withoutCredentials, tmp)
  const gateway = await startBenchGateway(settings, devices, tmp, cleanups)
  const throughput = await runThroughput(gateway, settings, tmp)
  const rssAfterThroughputMb = rssMb(gateway.process.pid)
  const alarm = process.env.QUICK_ALARM === '1' ? await runAlarmPhase(gateway, throughput.load.ackedPerSec, settings, tmp) : undefined
  const outage = process.env.QUICK_OUTAGE === '1' ? await runOutagePhase(gateway, Math.max(1, Math.round(throughput.load.ackedPerSec / 2)), settings, tmp) : undefined
  const exit = await stopBenchGateway(gateway, throughput.logLines, throughput.load.span, settings)
  const profile = exit.profile
  const out = {
    bareAedes: bare === undefined ? undefined : loadFigures(bare),
    gateway: { ...loadFigures(throughput.load), rssAfterThroughputMb, stored: throughput.stored.total, acked: throughput.load.acked, drainMs: throughput.drainMs },
    ratio: bare === undefined ? undefined : Math.round((throughput.load.ackedPerSec / bare.ackedPerSec) * 1000) / 1000,
    alarm: alarm === undefined
      ? undefined
      : {
          idleMs: alarm.half.idle.all,
          half: alarmFigures(alarm.half),
          quarter: alarmFigures(alarm.quarter),
          openLoop: alarm.openLoop === undefined ? undefined : { maximumPerSec: alarm.openLoop.maximumPerSec, half: alarmFigures(alarm.openLoop.half), quarter: alarmFigures(alarm.openLoop.quarter) },
        },
    outage: outage === undefined ? undefined : { ...outage, load: loadFigures(outage.load) },
    stagesUs: profile === undefined ? undefined : await stagesOf(profile.file, throughput.load.span, throughput.load.ackedInWindow),
    alarmHalfStagesUs: profile === undefined || alarm === undefined ? undefined : await stagesOf(profile.file, alarm.half.load.span, alarm.half.load.ackedInWindow),
    topFunctions: profile?.summary.topFunctions.map(function line (f) { return `${f.percent}% ${f.name}` }),
  }
  process.stderr.write(`${JSON.stringify(out, null, 1)}\n`)
} finally {
  await stopInReverse(cleanups, 'cleanup')
  await rm(tmp, { recursive: true, force: true })
}
