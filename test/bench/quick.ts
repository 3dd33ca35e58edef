import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { startBenchGateway, stopBenchGateway } from './gateway.ts'
import { makeDevices } from './load-run.ts'
import { runBaseline } from './phases/bare-aedes.ts'
import { runAlarmPhase } from './phases/alarm-latency.ts'
import { runThroughput } from './phases/gateway-throughput.ts'
import { rssMb, stopInReverse, type Stop } from './processes.ts'
import { readSettings } from './settings.ts'
import { cpuMicrosPerMessage } from './cpu.ts'
import { summariseCpuProfile } from './cpu-profile.ts'
import { REPO_ROOT } from './settings.ts'

const settings = readSettings()
const tmp = await mkdtemp(join(os.tmpdir(), 'citygw-quick-'))
const cleanups: Stop[] = []
try {
  const devices = makeDevices(Math.max(settings.devices, settings.openLoopDevices))
  const noCred = devices.map((d) => ({ id: d.id, kind: d.kind, secret: 'unused' }))
  const skipBare = process.env.QUICK_SKIP_BARE === '1'
  const base = skipBare ? undefined : await runBaseline(settings, noCred, tmp)
  const gw = await startBenchGateway(settings, devices, tmp, cleanups)
  const t = await runThroughput(gw, settings, tmp)
  const rssAfterThroughput = rssMb(gw.process.pid)
  const alarm = process.env.QUICK_ALARM === '1' ? await runAlarmPhase(gw, t.load.ackedPerSec, settings, tmp) : undefined
  const exit = await stopBenchGateway(gw, t.logLines, t.load.span, settings)
  const out = {
    bare: base && { rate: Math.round(base.ackedPerSec), cpu: base.brokerCpuPercent, us: cpuMicrosPerMessage(base.brokerCpuPercent, base.ackedPerSec), gen: base.generatorCpuPercent },
    gw: { rss: rssAfterThroughput, rate: Math.round(t.load.ackedPerSec), cpu: t.load.brokerCpuPercent, us: cpuMicrosPerMessage(t.load.brokerCpuPercent, t.load.ackedPerSec), influx: t.load.databaseCpuPercent, influxUs: cpuMicrosPerMessage(t.load.databaseCpuPercent, t.load.ackedPerSec), gen: t.load.generatorCpuPercent, machine: t.load.machineCpuPercent, p50: t.load.latencyMs, drainMs: t.drainMs, stored: t.stored.total, acked: t.load.acked, spoolMax: t.spoolMax },
    alarm: alarm && { idle: alarm.half.idle.all, half: { rate: alarm.half.ratePerSec, cpu: alarm.half.load.brokerCpuPercent, lat: alarm.half.probe, puback: alarm.half.load.latencyMs, acked: alarm.half.load.ackedPerSec, skipped: alarm.half.load.skipped, gen: alarm.half.load.generatorCpuPercent, us: cpuMicrosPerMessage(alarm.half.load.brokerCpuPercent, alarm.half.load.ackedPerSec) }, quarter: { rate: alarm.quarter.ratePerSec, cpu: alarm.quarter.load.brokerCpuPercent, lat: alarm.quarter.probe, puback: alarm.quarter.load.latencyMs, acked: alarm.quarter.load.ackedPerSec, skipped: alarm.quarter.load.skipped, gen: alarm.quarter.load.generatorCpuPercent, us: cpuMicrosPerMessage(alarm.quarter.load.brokerCpuPercent, alarm.quarter.load.ackedPerSec) } },
    ratio: base ? (t.load.ackedPerSec / base.ackedPerSec).toFixed(3) : null,
    profile: exit.profile?.summary,
    stagesUs: exit.profile && Object.fromEntries(exit.profile.summary.stages.map((st) => [st.name, +(((exit.profile!.summary.totalMs - exit.profile!.summary.idleMs) * 1000 * st.percent / 100) / t.load.ackedInWindow).toFixed(2)])),
  }
  if (exit.profile && alarm) {
    const sum = await summariseCpuProfile(exit.profile.file, REPO_ROOT, alarm.half.load.span, 30)
    const busy = (sum.totalMs - sum.idleMs) * 1000
    const n = alarm.half.load.ackedInWindow
    ;(out as Record<string, unknown>).alarmHalfProfile = { busyMs: busy / 1000, totalMs: sum.totalMs, n, stagesUs: Object.fromEntries(sum.stages.map((st) => [st.name, +((busy * st.percent / 100) / n).toFixed(2)])), top: sum.topFunctions.map((f) => `${f.percent}% ${f.name}`) }
  }
  process.stderr.write(JSON.stringify(out, null, 1) + '\n')
} finally {
  await stopInReverse(cleanups, 'cleanup')
  await rm(tmp, { recursive: true, force: true })
}
