// What a message costs in open loop (devices in the field: one message in flight each, at a fixed
// rate), the gateway beside bare Aedes at the same rates: CPU µs per message of each broker, the
// gateway's split into its main thread and its other threads (libuv's pool: spool writes and
// fsyncs; V8's GC helpers), and with BENCH_PROFILE=1 its main thread by stage and its top functions.
// OPEN_LOOP_RATES=3000,6000 (msgs/s), BENCH_DURATION_SEC for each round. One JSON object on stderr.
// `node --import tsx test/bench/open-loop.ts`
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { summariseCpuProfile } from './cpu-profile.ts'
import { startBenchGateway, stopBenchGateway } from './gateway.ts'
import { loadFigures, makeDevices, runLoad, type LoadRun } from './load-run.ts'
import { runBaseline } from './phases/bare-aedes.ts'
import { stopInReverse, threadCpuMs, type Stop } from './processes.ts'
import { REPO_ROOT, readSettings } from './settings.ts'


const settings = readSettings()
const rates = (process.env.OPEN_LOOP_RATES ?? '3000,6000').split(',').map(Number)
const tmp = await mkdtemp(join(os.tmpdir(), 'citygw-open-loop-'))
const cleanups: Stop[] = []
try {
  const devices = makeDevices(settings.openLoopDevices)
  const withoutCredentials = devices.map(function noSecret (d) { return { id: d.id, kind: d.kind, secret: 'unused' } })
  const bare: Record<string, unknown>[] = []
  if (process.env.OPEN_LOOP_SKIP_BARE !== '1') {
    for (const ratePerSec of rates) bare.push(loadFigures(await runBaseline(settings, withoutCredentials, tmp, { ratePerSec, durationSec: settings.durationSec })))
  }
  const gateway = await startBenchGateway(settings, devices, tmp, cleanups)
  const runs: LoadRun[] = []
  const threads: Record<string, number | null>[] = []
  for (const ratePerSec of rates) {
    const pid = gateway.process.pid
    let start: ReturnType<typeof threadCpuMs>
    let end: ReturnType<typeof threadCpuMs>
    const run = await runLoad('gateway-open-loop', gateway.mqttUrl, pid, gateway.loadDevices, settings, tmp, {
      ratePerSec,
      warmupSec: 1,
      durationSec: settings.durationSec,
      database: gateway.influx,
      onWindowStart () { start = threadCpuMs(pid) },
      onLoadEnd () { end = threadCpuMs(pid) },
    })
    runs.push(run)
    const usPerMessage = function us (from: number | undefined, to: number | undefined): number | null {
      return from === undefined || to === undefined ? null : Math.round(((to - from) * 1000) / Math.max(1, run.ackedInWindow))
    }
    threads.push({ mainThreadUsPerMessage: usPerMessage(start?.mainMs, end?.mainMs), otherThreadsUsPerMessage: usPerMessage(start?.otherMs, end?.otherMs) })
  }
  const last = runs[runs.length - 1] as LoadRun
  const exit = await stopBenchGateway(gateway, 0, last.span, settings)
  const profiles = exit.profile === undefined
    ? undefined
    : await Promise.all(runs.map(async function profileOf (run) {
      const summary = await summariseCpuProfile(exit.profile?.file ?? '', REPO_ROOT, run.span, 25)
      const busyUs = (summary.totalMs - summary.idleMs) * 1000
      const perMessage = function us (percent: number): number { return Math.round((busyUs * percent) / 100 / Math.max(1, run.ackedInWindow) * 100) / 100 }
      return {
        profiledBusyUsPerMessage: perMessage(100),
        stagesUs: Object.fromEntries(summary.stages.map(function usOf (s) { return [s.name, perMessage(s.percent)] })),
        topFunctionsUs: summary.topFunctions.map(function line (f) { return `${perMessage(f.percent)} ${f.name}` }),
      }
    }))
  process.stderr.write(`${JSON.stringify({ rates, bareAedes: bare, gateway: runs.map(function withThreads (run, i) { return { ...loadFigures(run), ...threads[i] } }), profiles }, null, 1)}\n`)
} finally {
  await stopInReverse(cleanups, 'cleanup')
  await rm(tmp, { recursive: true, force: true })
}
