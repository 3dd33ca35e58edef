// Phase 1 (and again after the outage): bare Aedes 1.2 in its own process (no auth, no validation,
// no storage) under the load generator: closed loop for the baseline, or open loop at a given rate.
import { join } from 'node:path'
import { runLoad, type LoadDevices, type LoadRun } from '../load-run.ts'
import { startProcess } from '../processes.ts'
import { say } from '../say.ts'
import { REPO_ROOT, type Settings } from '../settings.ts'

/** The bare Aedes run at the alarm phase's rate measures CPU only: a few seconds suffice. */
export const BARE_OPEN_LOOP_SEC = 5

export async function runBaseline (settings: Settings, devices: LoadDevices, tmp: string, openLoop?: { ratePerSec: number; durationSec: number }): Promise<LoadRun> {
  say(openLoop === undefined
    ? 'bare Aedes 1.2 (no auth, no validation, no storage)…'
    : `bare Aedes 1.2 again, open loop at the ${openLoop.ratePerSec} msgs/s the gateway reached in the alarm phase (what that rate costs the broker alone)…`)
  const broker = startProcess('bare aedes', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/bare-aedes.ts')], { cwd: REPO_ROOT, env: process.env })
  try {
    const { port } = await broker.waitForLine<{ port: number }>(function isStarted (l) { return l.msg === 'bare aedes started' }, 20_000)
    return await runLoad(openLoop === undefined ? 'bare-aedes' : 'bare-aedes-open', `mqtt://127.0.0.1:${port}`, broker.pid, devices, settings, tmp,
      openLoop === undefined ? {} : { ratePerSec: openLoop.ratePerSec, warmupSec: 1, durationSec: openLoop.durationSec })
  } finally {
    await broker.stop(5000)
  }
}
