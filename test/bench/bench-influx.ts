// A private InfluxDB 1.x for `npm run bench` that can be stopped and started again on the same
// ports and data (the outage figure): Debian's influxd with the simulator's loopback-only config
// (renderInfluxdConfig). Enters: a dir and a database name. Leaves: LocalInfluxDb + stopServer/startServer.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freeLoopbackPort } from '../../simulators/free-port.ts'
import { INFLUXD_PATH, renderInfluxdConfig, type LocalInfluxDb } from '../../simulators/local-influxdb.ts'

export interface RestartableInfluxDb extends LocalInfluxDb {
  /** Stops influxd (SIGTERM, SIGKILL after 5 s); data stays. */
  stopServer(): Promise<void>
  /** Starts it again on the same ports and data; resolves once /ping answers (≤ 20 s). */
  startServer(): Promise<void>
}

export async function startRestartableInfluxDb (dir: string, database: string): Promise<RestartableInfluxDb> {
  if (!existsSync(INFLUXD_PATH)) throw new Error(`${INFLUXD_PATH} is missing (apt-get install influxdb)`)
  await mkdir(dir, { recursive: true })
  const httpPort = await freeLoopbackPort()
  const configPath = join(dir, 'influxdb.conf')
  await writeFile(configPath, renderInfluxdConfig(dir, httpPort, await freeLoopbackPort(), false))
  const url = `http://127.0.0.1:${httpPort}`
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()

  async function query (influxql: string, db?: string): Promise<unknown> {
    const form = new URLSearchParams({ q: influxql, epoch: 'ms', ...(db === undefined ? {} : { db }) })
    const res = await fetch(`${url}/query`, { method: 'POST', body: form, signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`influxd /query ${res.status}: ${await res.text()}`)
    return res.json()
  }

  async function stopServer (): Promise<void> {
    const running = child
    if (running === undefined) return
    child = undefined
    if (running.exitCode === null && running.signalCode === null) running.kill('SIGTERM')
    const killer = setTimeout(function killHard () { running.kill('SIGKILL') }, 5000)
    await exited
    clearTimeout(killer)
  }

  async function startServer (): Promise<void> {
    if (child !== undefined) return
    const started = spawn(INFLUXD_PATH, ['run', '-config', configPath], { stdio: 'ignore' })
    child = started
    exited = new Promise<void>(function onExit (resolve) { started.once('exit', function done () { resolve() }) })
    const deadline = Date.now() + 20_000
    for (;;) {
      if (started.exitCode !== null) throw new Error(`influxd exited with ${started.exitCode}`)
      const isUp = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) }).then(function answered (r) { return r.status === 204 }, function down () { return false })
      if (isUp) return
      if (Date.now() > deadline) {
        await stopServer()
        throw new Error('influxd did not answer /ping within 20 s')
      }
      await sleep(50)
    }
  }

  process.on('exit', function killInfluxd () { child?.kill('SIGKILL') })
  await startServer()
  await query(`CREATE DATABASE "${database}"`)
  return { url, dir, query, stop: stopServer, stopServer, startServer }
}
