// The reconnect-storm phase alone, for working on it: `node --import tsx test/bench/phases/reconnect-storm-run.ts`.
// Its own InfluxDB 1.x and temp dir; builds the gateway first as `npm run bench` does. Leaves the
// storm's rows of the table on stderr and its JSON on stdout and in .bench/reconnect-storm.json;
// exits 1 when acknowledged readings are missing from InfluxDB.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { startLocalInfluxDb } from '../../../simulators/local-influxdb.ts'
import { withBenchRun } from '../processes.ts'
import { printStorm } from '../report.ts'
import { runEnvironment, saveResults, stormFigures } from '../results.ts'
import { say } from '../say.ts'
import { readSettings, REPO_ROOT } from '../settings.ts'
import { runReconnectStorm, stormLost } from './reconnect-storm.ts'

async function main (): Promise<void> {
  const settings = readSettings()
  const startedAt = new Date()
  await withBenchRun('citygw-storm-', async function benchRun (tmp, cleanups) {
    execFileSync('bash', ['scripts/build.sh'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
    say('InfluxDB 1.x…')
    const influx = await startLocalInfluxDb(join(tmp, 'influxdb'), 'city')
    cleanups.push(function stopInflux () { return influx.stop() })
    const storm = await runReconnectStorm(settings, tmp, influx)
    say('')
    printStorm(storm)
    say('')
    const wallSec = Math.round((Date.now() - startedAt.getTime()) / 1000)
    await saveResults({ benchmark: 'city-sensor-gateway reconnect storm', date: startedAt.toISOString(), wallSec, ...runEnvironment(), reconnectStorm: stormFigures(storm) }, 'reconnect-storm.json')
    if (stormLost(storm) > 0) {
      say(`LOST DATA: ${stormLost(storm)} acknowledged readings are not in InfluxDB`)
      process.exitCode = 1
    }
  })
}

main().catch(function failed (err: unknown) {
  say(`reconnect storm failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  process.exitCode = 1
})
