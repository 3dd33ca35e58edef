// Stopping a server the simulators started (influxd, nats-server): SIGTERM, then SIGKILL if it has
// not exited within the grace period.
import type { ChildProcess } from 'node:child_process'

export async function stopChild (child: ChildProcess, exited: Promise<unknown>, graceMs = 5000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  const killer = setTimeout(function killHard () { child.kill('SIGKILL') }, graceMs)
  await exited
  clearTimeout(killer)
}
