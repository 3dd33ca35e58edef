// A real VictoriaMetrics (/usr/bin/victoria-metrics) for e2e tests: accepts InfluxDB line protocol
// on /write and /api/v2/write; export() flushes and reads series back from /api/v1/export.
// Field `f` of measurement `m` is stored as metric `m_f`; booleans as 1/0.
import { join } from 'node:path'
import { freePort } from './ports.ts'
import { launchServer, makeTempDir, requireBinary, startRestartable, type ServerProcess } from './server-process.ts'

const VICTORIA_METRICS = '/usr/bin/victoria-metrics'

/** One series as /api/v1/export returns it (one JSON object per line). */
export interface ExportedSeries {
  metric: Record<string, string>
  values: number[]
  timestamps: number[]
}

export interface VictoriaMetricsServer {
  readonly url: string
  readonly port: number
  /**
   * Forces a flush, then returns every series matching the selector, e.g. `{__name__=~"m_.*"}`.
   * New series become searchable a moment after their samples (index lag, seen under load):
   * with `minSamples`, polls (up to `timeoutMs`, default 5000) until that many samples are there,
   * then returns whatever it has.
   */
  export(matchSelector: string, options?: { minSamples?: number, timeoutMs?: number }): Promise<ExportedSeries[]>
  stop(): Promise<void>
  start(): Promise<void>
  readonly isRunning: boolean
  close(): Promise<void>
}

export interface VictoriaMetricsOptions {
  /** Requires HTTP basic auth on every endpoint (-httpAuth.*); a Token header then gets 401. */
  httpAuth?: { username: string, password: string }
}

export async function startVictoriaMetrics (options: VictoriaMetricsOptions = {}): Promise<VictoriaMetricsServer> {
  requireBinary(VICTORIA_METRICS, 'victoria-metrics')
  const dir = await makeTempDir('csg-vm-')
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const args = [
    `-httpListenAddr=127.0.0.1:${port}`,
    `-storageDataPath=${join(dir, 'data')}`,
    '-search.latencyOffset=0s',
    '-retentionPeriod=100y',
    '-loggerLevel=ERROR',
    '-selfScrapeInterval=0s',
    // InfluxDB keeps one value per series and timestamp; this makes VictoriaMetrics do the same
    // (at most one sample per 1 ms), so a batch written twice reads back once.
    '-dedup.minScrapeInterval=1ms',
  ]
  const headers: Record<string, string> = {}
  if (options.httpAuth !== undefined) {
    args.push(`-httpAuth.username=${options.httpAuth.username}`, `-httpAuth.password=${options.httpAuth.password}`)
    headers.authorization = `Basic ${Buffer.from(`${options.httpAuth.username}:${options.httpAuth.password}`).toString('base64')}`
  }

  function launch (): Promise<ServerProcess> {
    return launchServer(VICTORIA_METRICS, args, 'victoria-metrics', dir, async function health () {
      const res = await fetch(`${url}/health`, { headers, signal: AbortSignal.timeout(1000) })
      return res.ok
    })
  }

  async function exportSeries (matchSelector: string, options: { minSamples?: number, timeoutMs?: number } = {}): Promise<ExportedSeries[]> {
    const deadline = Date.now() + (options.timeoutMs ?? 5000)
    for (;;) {
      const series = await exportOnce(matchSelector)
      const samples = series.reduce((sum, s) => sum + s.values.length, 0)
      if (samples >= (options.minSamples ?? 0) || Date.now() > deadline) return series
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  async function exportOnce (matchSelector: string): Promise<ExportedSeries[]> {
    const flushed = await fetch(`${url}/internal/force_flush`, { headers, signal: AbortSignal.timeout(10_000) })
    await flushed.arrayBuffer()
    if (!flushed.ok) throw new Error(`victoria-metrics /internal/force_flush ${flushed.status}`)
    const query = new URLSearchParams({ 'match[]': matchSelector })
    const res = await fetch(`${url}/api/v1/export?${query.toString()}`, { headers, signal: AbortSignal.timeout(10_000) })
    const text = await res.text()
    if (!res.ok) throw new Error(`victoria-metrics /api/v1/export ${res.status}: ${text}`)
    return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as ExportedSeries)
  }

  const server = await startRestartable(dir, launch)

  return {
    url,
    port,
    export: exportSeries,
    get isRunning () { return server.isRunning },
    stop () { return server.stop() },
    start () { return server.start() },
    close () { return server.close() },
  }
}
