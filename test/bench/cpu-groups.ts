// CPU over a window of named groups of processes (a gateway's primary and its workers, the
// nats-servers, influxd), each summed over its processes from /proc: % of one core per group.
import { processCpuMs } from './processes.ts'

export type ProcessGroups = Readonly<Record<string, readonly number[]>>

export interface GroupCpuSnapshot {
  /** CPU ms used so far by each group's processes; undefined when one of them is gone. */
  readonly cpuMs: ReadonlyMap<string, number | undefined>
  readonly at: number
}

function groupCpuMs (pids: readonly number[]): number | undefined {
  let sum = 0
  for (const pid of pids) {
    const ms = processCpuMs(pid)
    if (ms === undefined) return undefined
    sum += ms
  }
  return sum
}

export function groupCpuSnapshot (groups: ProcessGroups): GroupCpuSnapshot {
  const cpuMs = new Map<string, number | undefined>()
  for (const [name, pids] of Object.entries(groups)) cpuMs.set(name, groupCpuMs(pids))
  return { cpuMs, at: performance.now() }
}

/**
 * % of one core each group used between two snapshots of the same groups; null for a group whose
 * processes were not all there both times (one exited or was restarted: its CPU is unknown).
 */
export function groupCpuBetween (start: GroupCpuSnapshot, end: GroupCpuSnapshot): Record<string, number | null> {
  const wallMs = end.at - start.at
  const percent: Record<string, number | null> = {}
  for (const [name, from] of start.cpuMs) {
    const to = end.cpuMs.get(name)
    percent[name] = from === undefined || to === undefined || wallMs <= 0 ? null : Math.round(((to - from) / wallMs) * 100)
  }
  return percent
}
