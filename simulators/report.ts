// What `citygw simulate` shows people: a live status line on a terminal (stderr, rewritten in
// place) and a summary at the end (stdout). Scripts use --json instead: one JSON object on stdout.
import type { LoadResult } from './load/run-load.ts'
import type { SimulationStatus, SimulationSummary } from './simulate.ts'
import { formatDuration } from './time.ts'

export function createStatusLine (stream: NodeJS.WriteStream): { show(text: string): void; clear(): void } {
  let isShown = false
  return {
    show (text) {
      if (!stream.isTTY) return
      stream.write(`\r\x1b[2K${text.slice(0, Math.max(20, (stream.columns || 120) - 1))}`)
      isShown = true
    },
    clear () {
      if (isShown) stream.write('\r\x1b[2K')
      isShown = false
    },
  }
}

export function describeStatus (status: SimulationStatus): string {
  const crew = status.crewConnected === undefined ? 'no crew' : status.crewConnected ? `alarms seen ${status.alarmsSeen}` : 'crew offline'
  return `sim ${new Date(status.simTimeMs).toISOString().slice(0, 16).replace('T', ' ')}Z | connected ${status.connected}/${status.devices}` +
    ` | sent ${status.sent} | acked ${status.acknowledged} | rejected ${status.rejected} | reconnects ${status.reconnects} | ${crew}`
}

export function describeSummary (s: SimulationSummary): string {
  const kinds = Object.entries(s.byKind).map(function kindCount ([kind, n]) { return `${n} ${kind}` }).join(', ')
  const span = Date.parse(s.simEnd) - Date.parse(s.simStart)
  const lines = [
    `Simulated ${s.simStart} → ${s.simEnd} (${formatDuration(span)} at ${s.speed}× in ${s.realSec} s, a reading every ${s.intervalSec} s) with ${s.devices} devices (${kinds}), seed ${s.seed}.`,
    `Sent ${s.sent}, acknowledged ${s.acknowledged}, failed ${s.failed}, unacknowledged ${s.unacknowledged}, not sent ${s.unsent}; ` +
      `rejected readings ${s.rejected} (${s.notices} notices); reconnects ${s.reconnects}.`,
  ]
  for (const sc of s.scenarios) {
    lines.push(`Scenario ${sc.name} on ${sc.deviceId} from ${sc.from}${sc.until === null ? '' : ` until ${sc.until}`} (${sc.alarm === null ? 'no alarm expected' : `expects ${sc.alarm}`}).`)
  }
  if (s.crewConnected === undefined) {
    lines.push('Alarms: not watched (no crew credentials; --provision creates a crew, or give --crew with CITYGW_CREW_SECRET).')
  } else {
    const per = Object.entries(s.alarms.byDevice).map(function deviceAlarms ([id, types]) { return `${id}: ${types.join(', ')}` })
    lines.push(`Alarm messages seen: ${s.alarms.seen} (raised ${s.alarms.raised}, acknowledged ${s.alarms.acknowledged}, cleared ${s.alarms.cleared})${per.length === 0 ? '.' : ` — ${per.join('; ')}`}`)
  }
  return lines.join('\n')
}

export function describeLoad (r: LoadResult): string {
  const l = r.latencyMs
  const what = r.qos === 1 ? 'publish→PUBACK' : 'publish→socket write (QoS 0 has no PUBACK)'
  return [
    `Load: ${r.connected}/${r.devices} devices connected in ${r.connectMs} ms; QoS ${r.qos}, ${r.targetRatePerSec === null ? `closed loop, window ${r.window}` : `target ${r.targetRatePerSec} msg/s`}.`,
    `Measured ${r.durationSec} s: published ${r.publishedPerSec} msg/s, acknowledged ${r.ackedPerSec} msg/s (${r.ackedInWindow} in the window); ` +
      `total published ${r.published}, acked ${r.acked}, failed ${r.failed}, unacked ${r.unacked}, skipped turns ${r.skipped}.`,
    `Latency ${what}, ms: p50 ${l.p50}, p90 ${l.p90}, p99 ${l.p99}, p99.9 ${l.p999}, max ${l.max}, mean ${l.mean} (${l.count} samples).`,
    `Generator CPU ${r.generatorCpuPercent} % of a core, event-loop delay p99 ${r.generatorLoopDelayP99Ms} ms; reconnects ${r.reconnects}, unexpected closes ${r.unexpectedCloses}` +
      `${Object.keys(r.clientErrors).length === 0 ? '' : `; client errors ${JSON.stringify(r.clientErrors)}`}.`,
  ].join('\n')
}
