// Enters: a real 3-node nats-server cluster on loopback (test/helpers/nats.ts) and an open-loop load
// of appends (records of one line) spread over 1 ms ticks, as devices on many sockets send them.
// Leaves: for several numbers of publishes in flight and rates, the appends acknowledged per second
// and the ack latency (p50, p99); then how fast one node reads and commits a backlog of small and
// of large messages; JSON on stdout (progress on stderr). TELEMETRY_LOG.maxInFlight in config.ts is
// chosen from it. Run: node --import tsx test/bench/telemetry-log-throughput.ts [seconds]
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { pino } from 'pino'
import { openTelemetryLog } from '../../broker/cluster/telemetry-log.ts'
import { TELEMETRY_STREAM, TELEMETRY_SUBJECT } from '../../broker/cluster/names.ts'
import { startNatsCluster } from '../helpers/nats.ts'
import { telemetryLogDefaults } from '../helpers/default-options.ts'
import { say } from './say.ts'

const SECONDS = Number(process.argv[2] ?? 3)
const IN_FLIGHT = [1, 2, 4, 8, 16]
const RATES = (process.env.RATES ?? "5000,20000,80000").split(",").map(Number)
const LINE = 'lamp_post,device_id=lp-000123,district=centre commandedLevel=80i,supplyVoltage=231.4,activePower=74.5 1732550400000'

interface DrainResult { messages: number, linesPerMessage: number, linesPerSec: number, messagesPerSec: number, batches: number }

interface Result { maxInFlight: number, rate: number, ackedPerSec: number, refused: number, appendsPerMessage: number, p50Ms: number, p99Ms: number }

function percentile (sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0
}

const cluster = await startNatsCluster({ nodes: 3 })
const results: Result[] = []
const drains: DrainResult[] = []
try {
  const nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
  const jsm = await jetstreamManager(nc)
  for (const rate of RATES) {
    for (const maxInFlight of IN_FLIGHT) {
      await jsm.streams.delete(TELEMETRY_STREAM).catch(() => false)
      const log = await openTelemetryLog({ ...telemetryLogDefaults, nc, jsm, replicas: 3, nodeName: 'bench', maxBytes: 2 * 1024 ** 3, maxInFlight, log: pino({ level: 'warn' }) })
      const latencies: number[] = []
      const pending: Promise<void>[] = []
      let refused = 0
      const perTick = rate / 1000
      let owed = 0
      const startedAt = performance.now()
      await new Promise<void>(function runLoad (resolve) {
        const timer = setInterval(function tick () {
          const elapsedMs = performance.now() - startedAt
          if (elapsedMs >= SECONDS * 1000) {
            clearInterval(timer)
            resolve()
            return
          }
          // Catch up on ticks the timer missed, so the offered rate holds whatever the loop's delays.
          owed = elapsedMs * perTick - pending.length
          for (; owed >= 1; owed--) {
            const sentAt = performance.now()
            pending.push(log.append([LINE]).then(function acked () { latencies.push(performance.now() - sentAt) }, function notAcked () { refused++ }))
          }
        }, 1)
      })
      await Promise.all(pending)
      const seconds = (performance.now() - startedAt) / 1000
      const { appendedRecords, fsyncs } = log.stats()
      await log.close()
      latencies.sort((a, b) => a - b)
      const result = { maxInFlight, rate, ackedPerSec: Math.round(appendedRecords / seconds), refused, appendsPerMessage: Math.round(appendedRecords / Math.max(1, fsyncs)), p50Ms: Number(percentile(latencies, 0.5).toFixed(1)), p99Ms: Number(percentile(latencies, 0.99).toFixed(1)) }
      say(JSON.stringify(result))
      results.push(result)
    }
  }
  // A backlog as an InfluxDB outage leaves it, published directly, then read and committed by one node.
  const js = jetstream(nc)
  for (const [messages, linesPerMessage] of [[10_000, 4], [200, 1300]] as const) {
    await jsm.streams.delete(TELEMETRY_STREAM).catch(() => false)
    const log = await openTelemetryLog({ ...telemetryLogDefaults, nc, jsm, replicas: 3, nodeName: 'bench', maxBytes: 2 * 1024 ** 3, log: pino({ level: 'warn' }) })
    const body = Array.from({ length: linesPerMessage }, () => LINE).join('\n')
    for (let sent = 0; sent < messages; sent += 200) await Promise.all(Array.from({ length: Math.min(200, messages - sent) }, () => js.publish(TELEMETRY_SUBJECT, body)))
    const startedAt = performance.now()
    let lines = 0
    let batches = 0
    while (lines < messages * linesPerMessage) {
      const batch = await log.read(20_000, AbortSignal.timeout(10_000))
      if (batch === null) break
      lines += batch.lines.length
      batches++
      await log.commit(batch)
    }
    const seconds = (performance.now() - startedAt) / 1000
    await log.close()
    const result = { messages, linesPerMessage, linesPerSec: Math.round(lines / seconds), messagesPerSec: Math.round(lines / linesPerMessage / seconds), batches }
    say(JSON.stringify(result))
    drains.push(result)
  }
  await nc.close()
} finally {
  await cluster.close()
}
process.stdout.write(`${JSON.stringify({ seconds: SECONDS, node: process.version, results, drains })}\n`)
