// Phase 6: a fresh gateway with 20,000 registered devices holds 10,000, then 20,000 authenticated
// connections, no traffic, opened by two connect probes (their own processes). Leaves: connect
// rate and resident memory per held connection, right after connecting and once settled.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { FD_RESERVE } from '../../../broker/config.ts'
import { importDevices } from '../../../broker/registry/provision.ts'
import { registryPath } from '../../../broker/registry/store.ts'
import type { ConnectProbeSpec } from '../connect-probe.ts'
import { gatewayEnv, logProblems, startGateway } from '../gateway.ts'
import { memorySplit, scrape, type MemorySplit } from '../metrics.ts'
import { fdFigures, rssMb, startProcess, stopInReverse, type BenchProcess, type Stop } from '../processes.ts'
import { say } from '../say.ts'
import { REPO_ROOT, TARGETS } from '../settings.ts'

export const CONNECTION_LEVELS = [10_000, 20_000] as const
const CONNECT_PROBES = 2
/**
 * How long to wait, after a level is held, for the gateway to settle. Right after thousands of
 * connects its RSS still holds what connecting allocated (Aedes' per-connect stream pipelines,
 * the CONNECT packets: about 48 KB per connect in all, measured with the sampling heap profiler),
 * until V8's memory reducer runs on the now idle process (about 30–40 s later here).
 */
export const SETTLE_MAX_SEC = 45
/** RSS this far below its post-connect value means the memory reducer ran. */
const SETTLED_DROP = 0.15

export interface ConnectionLevel {
  requested: number
  /** Requested, or fewer when the gateway's open-file limit cannot hold that many sockets. */
  attempted: number
  held: number
  connectMs: number
  connectPerSec: number
  /** 2 s after the last CONNACK: the peak of a reconnect storm. */
  rssMb: number
  bytesPerConnection: number
  /**
   * Once the idle gateway settled (null: it did not within SETTLE_MAX_SEC): what holding them
   * costs. Only waited for when the figure above is over the target (settledAfterSec 0: the same).
   */
  settledRssMb: number | null
  settledBytesPerConnection: number | null
  settledAfterSec: number | null
  /**
   * Where the RSS is once settled, or at the end of the wait when it did not settle (from the
   * gateway's /metrics, scraped only then: a scrape allocates, and could itself set off a GC).
   */
  memoryAfterWait: MemorySplit | null
  newErrors: number
}

/**
 * Polls RSS (from /proc: nothing that would allocate in the gateway) until it dropped by
 * SETTLED_DROP and then stopped falling (the reducer collects in steps over a few seconds).
 */
async function settledRss (pid: number, afterConnectMb: number): Promise<{ rssMb: number; afterSec: number } | null> {
  const start = performance.now()
  let previous = afterConnectMb
  let hasDropped = false
  while (performance.now() - start < SETTLE_MAX_SEC * 1000) {
    await sleep(1000)
    const now = rssMb(pid)
    hasDropped ||= now < afterConnectMb * (1 - SETTLED_DROP)
    if (hasDropped && now > previous * 0.99) return { rssMb: now, afterSec: Math.round((performance.now() - start) / 1000) }
    previous = now
  }
  return null
}

export interface ConnectionsRun {
  idleRssMb: number
  idleMemory: MemorySplit | null
  fdLimit: number | null
  fdsInUseIdle: number | null
  levels: ConnectionLevel[]
  errors: Record<string, number>
  gatewayWarnings: number
  gatewayErrors: number
}

/** Starts the connect probes (each opens its share of `credentials` on command); their stops go to `stops`. */
async function startProbes (port: number, credentials: ConnectProbeSpec['devices'], tmp: string, stops: Stop[]): Promise<BenchProcess[]> {
  const probes: BenchProcess[] = []
  for (let p = 0; p < CONNECT_PROBES; p++) {
    const spec: ConnectProbeSpec = {
      port,
      devices: credentials.filter(function ofProbe (_, i) { return i % CONNECT_PROBES === p }),
      concurrency: 50,
      keepaliveSec: 600,
      connackTimeoutMs: 20_000,
      maxSec: 240,
    }
    const specFile = join(tmp, `connect-probe-${p}.json`)
    await writeFile(specFile, JSON.stringify(spec), { mode: 0o600 })
    const probe = startProcess(`connect probe ${p}`, ['--import', 'tsx', join(REPO_ROOT, 'test/bench/connect-probe.ts'), specFile], { cwd: REPO_ROOT, env: process.env })
    stops.push(function stopProbe () { return probe.stop(3000) })
    probes.push(probe)
  }
  for (const probe of probes) await probe.waitForLine(function isReady (l) { return l.type === 'ready' }, 20_000)
  return probes
}

export async function runConnectionsBench (tmp: string, influxUrl: string): Promise<ConnectionsRun> {
  const most = CONNECTION_LEVELS[CONNECTION_LEVELS.length - 1] ?? 0
  say(`connections: a fresh gateway, ${most} devices registered, connect only…`)
  const dataDir = join(tmp, 'gateway-connections')
  const devices = Array.from({ length: most }, function makeConnDevice (_, i) {
    return { id: `conn-${String(i).padStart(5, '0')}`, kind: 'lamp-post' as const, district: `district-${i % 8}` }
  })
  const credentials = await importDevices(registryPath(dataDir), devices.map(function toJsonLine (d) { return JSON.stringify(d) }).join('\n'))
  const stops: Stop[] = []
  try {
    const gateway = startGateway('gateway (connections)', gatewayEnv(dataDir, influxUrl))
    stops.push(function stopGateway () { return gateway.stop(15_000) })
    const started = await gateway.waitForLine<{ ports: { mqtt: number; http: number } }>(function isStarted (l) { return l.msg === 'gateway started' }, 30_000)
    const memoryNow = async function memoryNow (): Promise<MemorySplit | null> {
      const rss = rssMb(gateway.pid)
      return await scrape(`http://127.0.0.1:${started.ports.http}`).then(function split (text) { return memorySplit(text, rss) }, function noSplit () { return null })
    }
    const probes = await startProbes(started.ports.mqtt, credentials, tmp, stops)
    await sleep(2000)
    const idleRssMb = rssMb(gateway.pid)
    const idleMemory = await memoryNow()
    const fds = await fdFigures(gateway.pid)
    // Each held connection is one fd in the gateway: stay below its limit rather than hit EMFILE.
    // The gateway holds at most its open-file limit minus FD_RESERVE connections (open-file-limit.ts).
    const capacity = fds.limit === null ? Number.POSITIVE_INFINITY : fds.limit - FD_RESERVE
    const levels: ConnectionLevel[] = []
    let heldBefore = 0
    for (const requested of CONNECTION_LEVELS) {
      const perProbe = Math.floor(Math.min(requested, capacity) / CONNECT_PROBES)
      const attempted = perProbe * CONNECT_PROBES
      for (const probe of probes) probe.child.stdin?.write(`connect ${perProbe}\n`)
      const answers = await Promise.all(probes.map(function waitHeld (probe) {
        return probe.waitForLine<{ held: number; ms: number; newErrors: number }>(function isHeld (l) { return l.type === 'held' && l.target === perProbe }, 180_000)
      }))
      const held = answers.reduce(function sum (n, a) { return n + a.held }, 0)
      const connectMs = Math.max(...answers.map(function msOf (a) { return a.ms }))
      await sleep(2000) // the work after the last CONNACK
      const rss = rssMb(gateway.pid)
      const perConnection = function perConnection (mb: number): number { return held === 0 ? 0 : Math.round(((mb - idleRssMb) * 1048576) / held) }
      // Settling can only lower the figure: waited for only when it matters for the target.
      const isWaiting = perConnection(rss) > TARGETS.bytesPerConnection
      say(`  ${held} held (of ${attempted}${attempted < requested ? `, capped from ${requested} by the open-file limit ${String(fds.limit)}` : ''}) in ${connectMs} ms; RSS ${rss} MB (idle ${idleRssMb} MB)${isWaiting ? '; waiting for it to settle…' : ''}`)
      const settled = isWaiting ? await settledRss(gateway.pid, rss) : { rssMb: rss, afterSec: 0 }
      const memoryAfterWait = await memoryNow()
      levels.push({
        requested,
        attempted,
        held,
        connectMs,
        connectPerSec: Math.round((held - heldBefore) / Math.max(0.001, connectMs / 1000)),
        rssMb: rss,
        bytesPerConnection: perConnection(rss),
        settledRssMb: settled?.rssMb ?? null,
        settledBytesPerConnection: settled === null ? null : perConnection(settled.rssMb),
        settledAfterSec: settled?.afterSec ?? null,
        memoryAfterWait,
        newErrors: answers.reduce(function sum (n, a) { return n + a.newErrors }, 0),
      })
      if (isWaiting) say(`  ${settled === null ? `not settled within ${SETTLE_MAX_SEC} s` : `settled after ${settled.afterSec} s: RSS ${settled.rssMb} MB`}`)
      heldBefore = held
    }
    const errors: Record<string, number> = {}
    for (const probe of probes) {
      const last = [...probe.lines()].reverse().find(function isHeld (l) { return l.type === 'held' }) as { errors?: Record<string, number> } | undefined
      for (const [reason, n] of Object.entries(last?.errors ?? {})) errors[reason] = (errors[reason] ?? 0) + n
    }
    for (const probe of probes) probe.child.stdin?.write('stop\n')
    const log = logProblems(gateway.lines())
    return { idleRssMb, idleMemory, fdLimit: fds.limit, fdsInUseIdle: fds.inUse, levels, errors, gatewayWarnings: log.warnings, gatewayErrors: log.errors }
  } finally {
    await stopInReverse(stops, 'connections cleanup')
  }
}
