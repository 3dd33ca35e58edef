// `npm run bench`: end-to-end throughput of the gateway against a bare Aedes 1.2 baseline, in one
// run, each broker and the load generator in its own process, everything on 127.0.0.1 with free
// ports and temp dirs. Leaves: a table on stderr, one JSON object on stdout and in .bench/results.json.
// Figures only: nothing is asserted on timings; the exit code is 1 only if the gateway lost data.
// This file is the composition root: settings, the phases in order (test/bench/phases/), cleanup.
// `--cluster` runs the cluster-mode bench instead (cluster-run.ts).
import { startBenchGateway, stopBenchGateway } from './gateway.ts'
import { makeDevices } from './load-run.ts'
import { runAlarmPhase } from './phases/alarm-latency.ts'
import { BARE_OPEN_LOOP_SEC, runBaseline } from './phases/bare-aedes.ts'
import { runConnectionsBench } from './phases/connections.ts'
import { runThroughput } from './phases/gateway-throughput.ts'
import { runOutagePhase } from './phases/outage.ts'
import { runReconnectStorm, stormLost } from './phases/reconnect-storm.ts'
import { mosquittoPath, runPeerBench } from './phases/peer.ts'
import { runClusterBench } from './cluster-run.ts'
import { withBenchRun } from './processes.ts'
import { printTable } from './report.ts'
import { buildResults, derive, saveResults, type BenchRun } from './results.ts'
import { say } from './say.ts'
import { readSettings } from './settings.ts'

async function main (): Promise<void> {
  const settings = readSettings()
  const startedAt = new Date()
  await withBenchRun('citygw-bench-', async function benchRun (tmp, cleanups) {
    mosquittoPath() // fail before anything runs when the peer's broker is not installed
    const devices = makeDevices(Math.max(settings.devices, settings.openLoopDevices))
    // The baseline needs no credentials; it gets the same ids, kinds and payloads.
    const withoutCredentials = devices.map(function noSecret (d) { return { id: d.id, kind: d.kind, secret: 'unused' } })
    const baseline = await runBaseline(settings, withoutCredentials, tmp)
    const peer = await runPeerBench(settings, withoutCredentials, tmp)
    // One gateway, with its InfluxDB, for throughput, alarm latency and outage in turn.
    const gateway = await startBenchGateway(settings, devices, tmp, cleanups)
    const throughput = await runThroughput(gateway, settings, tmp)
    const { half: alarm, quarter: alarmQuarter, openLoop: alarmOpenLoop } = await runAlarmPhase(gateway, throughput.load.ackedPerSec, settings, tmp)
    const outage = await runOutagePhase(gateway, Math.max(1, Math.round(throughput.load.ackedPerSec / 2)), settings, tmp)
    const gatewayExit = await stopBenchGateway(gateway, throughput.logLines, throughput.load.span, settings)
    // The alarm phase's open-loop rate on the broker alone: what one message costs without the
    // window's batching (a read and a PUBACK write per message), for the table's CPU rows.
    const bareOpenLoop = await runBaseline(settings, withoutCredentials, tmp, { ratePerSec: alarm.load.ackedPerSec, durationSec: BARE_OPEN_LOOP_SEC })
    const connections = await runConnectionsBench(tmp, gateway.influx.url)
    const storm = await runReconnectStorm(settings, tmp, gateway.influx)

    const run: BenchRun = { settings, baseline, peer, throughput, alarm, alarmQuarter, alarmOpenLoop, outage, gatewayExit, bareOpenLoop, connections, storm }
    const derived = derive(run)
    printTable(run, derived)
    const wallSec = Math.round((Date.now() - startedAt.getTime()) / 1000)
    say(`whole run: ${wallSec} s`)
    await saveResults(buildResults(run, derived, startedAt, wallSec))
    // Not a timing assertion: an acknowledged reading missing after a full drain is lost data.
    if (throughput.drainMs !== null && throughput.stored.total < throughput.load.acked) {
      say(`LOST DATA: ${throughput.load.acked - throughput.stored.total} acknowledged readings are not in InfluxDB`)
      process.exitCode = 1
    }
    if (stormLost(storm) > 0) {
      say(`LOST DATA: ${stormLost(storm)} acknowledged readings of the reconnect storm are not in InfluxDB`)
      process.exitCode = 1
    }
  })
}

const bench = process.argv.includes('--cluster') ? runClusterBench() : main()
bench.catch(function failed (err: unknown) {
  say(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exitCode = 1
})
