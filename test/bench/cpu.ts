// CPU over a window: snapshots of a broker's and its database's CPU time and the machine's jiffies
// (from /proc), turned into % of one core and µs of a core per acknowledged message.
import { machineCpuTicks, processCpuMs } from './processes.ts'

export interface CpuWindow {
  brokerCpuPercent: number | null
  /** The InfluxDB the broker writes to, when the phase names its process (it shares the machine). */
  databaseCpuPercent: number | null
  machineCpuPercent: number | null
}

export interface CpuSnapshot { brokerMs: number | undefined; databaseMs: number | undefined; machine: ReturnType<typeof machineCpuTicks>; at: number; monotonicUs: number }

export function cpuSnapshot (pid: number, databasePid: number | undefined): CpuSnapshot {
  return {
    brokerMs: processCpuMs(pid),
    databaseMs: databasePid === undefined ? undefined : processCpuMs(databasePid),
    machine: machineCpuTicks(),
    at: performance.now(),
    monotonicUs: Number(process.hrtime.bigint() / 1000n),
  }
}

export function cpuBetween (start: CpuSnapshot, end: CpuSnapshot): CpuWindow {
  const wallMs = end.at - start.at
  function percentOf (from: number | undefined, to: number | undefined): number | null {
    return from === undefined || to === undefined ? null : Math.round(((to - from) / wallMs) * 100)
  }
  const machine = start.machine === undefined || end.machine === undefined
    ? null
    : Math.round(((end.machine.busy - start.machine.busy) / Math.max(1, end.machine.total - start.machine.total)) * 100)
  return { brokerCpuPercent: percentOf(start.brokerMs, end.brokerMs), databaseCpuPercent: percentOf(start.databaseMs, end.databaseMs), machineCpuPercent: machine }
}

/** CPU time per acknowledged message, µs of one core: what one message costs a process at that rate. */
export function cpuMicrosPerMessage (cpuPercent: number | null, ackedPerSec: number): number | null {
  if (cpuPercent === null || ackedPerSec <= 0) return null
  return Math.round((cpuPercent * 10_000) / ackedPerSec)
}
