// A real InfluxDB 1.x (/usr/bin/influxd) for e2e tests: own temp dir, config and 127.0.0.1 ports.
// startInfluxDb1() resolves once /ping answers and the databases exist; stop()/start() restart it
// on the same data and port (outage tests); close() kills it and removes its dir.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { renderInfluxdConfig } from '../../simulators/local-influxdb.ts'
import { restartablePort } from './ports.ts'
import { launchServer, makeTempDir, requireBinary, startRestartable, type ServerProcess } from './server-process.ts'

const INFLUXD = '/usr/bin/influxd'

export interface InfluxQlSeries {
  name: string
  tags?: Record<string, string>
  columns: string[]
  values: unknown[][]
}
export interface InfluxQlResult {
  statement_id: number
  series?: InfluxQlSeries[]
  error?: string
}

export interface InfluxDb1Server {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  readonly url: string
  readonly port: number
  /** Admin credentials when started with `auth`. */
  readonly auth: { username: string, password: string } | undefined
  /** Runs InfluxQL (POST /query, epoch=ms) and returns its results; throws on any statement error. */
  query(influxql: string, db?: string): Promise<InfluxQlResult[]>
  /** `SELECT count(<field>) FROM <measurement>` as a number (0 when there is no data). */
  count(db: string, measurement: string, field: string): Promise<number>
  createDatabase(name: string): Promise<void>
  /** Stops the server, keeping its data dir and port. */
  stop(): Promise<void>
  /** Starts it again on the same data dir and port. */
  start(): Promise<void>
  readonly isRunning: boolean
  close(): Promise<void>
}

export interface InfluxDb1Options {
  /** Databases to create once started. Default ['city']. */
  databases?: readonly string[]
  /** Enables `auth-enabled` and creates this admin user before anything else. */
  auth?: { username: string, password: string }
  /** influxd's `max-body-size`: larger write requests are answered 413. */
  maxBodyBytes?: number
}

export async function startInfluxDb1 (options: InfluxDb1Options = {}): Promise<InfluxDb1Server> {
  requireBinary(INFLUXD, 'influxdb')
  const dir = await makeTempDir('csg-influxd-')
  const port = await restartablePort()
  const rpcPort = await restartablePort()
  const configPath = join(dir, 'influxdb.conf')
  await writeFile(configPath, renderInfluxdConfig(dir, port, rpcPort, options.auth !== undefined, options.maxBodyBytes))
  const url = `http://127.0.0.1:${port}`
  const auth = options.auth

  function launch (): Promise<ServerProcess> {
    return launchServer(INFLUXD, ['run', '-config', configPath], 'influxd', dir, async function ping () {
      const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) })
      return res.status === 204
    })
  }

  async function query (influxql: string, db?: string): Promise<InfluxQlResult[]> {
    const form = new URLSearchParams({ q: influxql, epoch: 'ms' })
    if (db !== undefined) form.set('db', db)
    const headers: Record<string, string> = {}
    if (auth !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`
    }
    const res = await fetch(`${url}/query`, { method: 'POST', body: form, headers, signal: AbortSignal.timeout(10_000) })
    const text = await res.text()
    if (!res.ok) throw new Error(`influxd /query ${res.status}: ${text}`)
    const body = JSON.parse(text) as { results?: InfluxQlResult[], error?: string }
    if (body.error !== undefined) throw new Error(`influxd /query: ${body.error}`)
    const results = body.results ?? []
    const failed = results.find((r) => r.error !== undefined)
    if (failed?.error !== undefined) throw new Error(`influxd /query: ${failed.error} (${influxql})`)
    return results
  }

  async function createDatabase (name: string): Promise<void> {
    await query(`CREATE DATABASE "${name}"`)
  }

  async function count (db: string, measurement: string, field: string): Promise<number> {
    const results = await query(`SELECT count("${field}") FROM "${measurement}"`, db)
    const value = results[0]?.series?.[0]?.values[0]?.[1]
    return typeof value === 'number' ? value : 0
  }

  const server = await startRestartable(dir, launch)
  try {
    if (auth !== undefined) {
      // Allowed without credentials only while no admin user exists.
      const form = new URLSearchParams({ q: `CREATE USER "${auth.username}" WITH PASSWORD '${auth.password}' WITH ALL PRIVILEGES` })
      const res = await fetch(`${url}/query`, { method: 'POST', body: form })
      if (!res.ok) throw new Error(`influxd CREATE USER ${res.status}: ${await res.text()}`)
    }
    for (const name of options.databases ?? ['city']) await createDatabase(name)
  } catch (err) {
    await server.close()
    throw err
  }

  return {
    url,
    port,
    auth,
    query,
    count,
    createDatabase,
    get isRunning () { return server.isRunning },
    stop () { return server.stop() },
    start () { return server.start() },
    close () { return server.close() },
  }
}
