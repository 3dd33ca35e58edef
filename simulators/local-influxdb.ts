// A private InfluxDB 1.x (Debian's /usr/bin/influxd) on 127.0.0.1 for the demo and developers:
// its own config and data under a given dir, free ports. Tests start theirs the same way
// (test/helpers/influxdb.ts) through renderInfluxdConfig.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freeLoopbackPort } from './free-port.ts'
import { stopChild } from './stop-child.ts'

export const INFLUXD_PATH = '/usr/bin/influxd'

/**
 * influxd.conf for a loopback-only server keeping everything under `dir`. `maxBodyBytes`: the
 * largest write request it takes (influxd's default is 25,000,000); larger ones get a 413.
 */
export function renderInfluxdConfig (dir: string, httpPort: number, rpcPort: number, isAuthEnabled: boolean, maxBodyBytes = 25_000_000): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false

[retention]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = ${String(isAuthEnabled)}
  max-body-size = ${maxBodyBytes}
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
`
}

export interface LocalInfluxDb {
  readonly url: string
  readonly dir: string
  /** Process id of the running influxd (undefined while stopped): the bench reads its CPU time. */
  readonly pid: number | undefined
  /** InfluxQL against it (epoch ms). */
  query(influxql: string, db?: string): Promise<unknown>
  /** Stops influxd (SIGTERM, SIGKILL after 5 s); the data stays. */
  stop(): Promise<void>
  /** Starts it again on the same port and data; resolves once /ping answers (≤ 20 s). Outage drills use it. */
  start(): Promise<void>
}

/** Starts influxd with data under `dir`, creates `database`, resolves once it answers (≤ 20 s). */
export async function startLocalInfluxDb (dir: string, database: string): Promise<LocalInfluxDb> {
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

  function killInfluxd (): void { child?.kill('SIGKILL') }

  async function stopServer (): Promise<void> {
    const running = child
    if (running === undefined) return
    child = undefined
    // Only while it runs: a run that starts many (the bench) would pile up listeners otherwise.
    process.off('exit', killInfluxd)
    await stopChild(running, exited)
  }

  async function startServer (): Promise<void> {
    if (child !== undefined) return
    const started = spawn(INFLUXD_PATH, ['run', '-config', configPath], { stdio: 'ignore' })
    child = started
    process.on('exit', killInfluxd)
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

  await startServer()
  await query(`CREATE DATABASE "${database}"`)
  return { url, dir, get pid () { return child?.pid }, query, stop: stopServer, start: startServer }
}
