// `citygw start`: runs the gateway until SIGINT/SIGTERM, then closes it and exits 0; SIGHUP
// re-reads the registry. The only command that logs (pino JSON on stdout).
// `--workers N` (cluster mode only) runs N gateway nodes as node:cluster workers sharing the MQTT
// and HTTP ports; this process then only supervises them.
import cluster from 'node:cluster'
import { availableParallelism, hostname } from 'node:os'
import path from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { loadConfig, type Config } from '../broker/config.ts'
import { GatewayError, isGatewayError } from '../broker/errors.ts'
import { createLogger, type Logger } from '../broker/log.ts'

/** A worker that keeps dying is not restarted forever: this many exits within RESTART_WINDOW_MS stop the whole start. */
const MAX_RESTARTS = 5
const RESTART_WINDOW_MS = 60_000
const RESTART_DELAY_MS = 1000

async function runGateway (config: Config, log: Logger): Promise<void> {
  // Loaded here, not at the top: provisioning commands need neither the broker nor the HTTP stack.
  const { startGateway } = await import('../broker/main.ts')
  const gateway = await startGateway(config, log)
  let stopping = false
  async function stop (signal: string): Promise<void> {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down')
    await gateway.close()
    process.exit(0)
  }
  process.once('SIGINT', function onSigint () { void stop('SIGINT') })
  process.once('SIGTERM', function onSigterm () { void stop('SIGTERM') })
  process.on('SIGHUP', function onSighup () { void gateway.reloadRegistry() })
}

/** Each worker is its own node: own name and own DATA_DIR below the configured one. */
function workerConfig (config: Config, index: number): Config {
  const base = config.NODE_NAME ?? `${hostname()}-${config.MQTT_PORT}`
  return Object.freeze({ ...config, NODE_NAME: `${base}-w${index}`, DATA_DIR: path.join(config.DATA_DIR, `worker-${index}`) })
}

function superviseWorkers (count: number, log: Logger): void {
  const exits: number[] = []
  let stopping = false
  function fork (index: number): void {
    const worker = cluster.fork({ CITYGW_WORKER_INDEX: String(index) })
    worker.on('exit', function workerExited (code, signal) {
      if (stopping) return
      const now = Date.now()
      exits.push(now)
      while (exits.length > 0 && (exits[0] as number) < now - RESTART_WINDOW_MS) exits.shift()
      if (exits.length > MAX_RESTARTS) {
        log.fatal({ worker: index, code, signal, exits: exits.length }, 'workers keep exiting; stopping')
        stop('worker exits', 1)
        return
      }
      log.error({ worker: index, code, signal }, 'worker exited; starting it again')
      setTimeout(function restart () { if (!stopping) fork(index) }, RESTART_DELAY_MS)
    })
  }
  function stop (reason: string, exitCode: number): void {
    if (stopping) return
    stopping = true
    log.info({ reason }, 'stopping workers')
    const alive = Object.values(cluster.workers ?? {}).filter(function isAlive (w) { return w !== undefined && !w.isDead() })
    let left = alive.length
    if (left === 0) process.exit(exitCode)
    for (const worker of alive) {
      worker?.once('exit', function oneStopped () { if (--left === 0) process.exit(exitCode) })
      worker?.process.kill('SIGTERM')
    }
  }
  process.once('SIGINT', function onSigint () { stop('SIGINT', 0) })
  process.once('SIGTERM', function onSigterm () { stop('SIGTERM', 0) })
  process.on('SIGHUP', function forwardSighup () {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP')
  })
  for (let i = 0; i < count; i++) fork(i)
  log.info({ workers: count }, 'workers started')
}

function parseWorkers (value: string): number {
  if (value === 'auto') return availableParallelism()
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new InvalidArgumentError('a number of workers (1–256) or "auto"')
  return n
}

async function start (opts: { workers?: number }): Promise<void> {
  const config = loadConfig()
  const log = createLogger(config.LOG_LEVEL)
  if (opts.workers === undefined) {
    await runGateway(config, log)
    return
  }
  if (config.NATS_URL.length === 0) {
    throw new GatewayError('CSG_CONFIG_INVALID', '--workers needs NATS_URL (cluster mode): the workers share telemetry, registry and alarms through NATS JetStream')
  }
  if (cluster.isPrimary) {
    superviseWorkers(opts.workers, log)
    return
  }
  try {
    await runGateway(workerConfig(config, Number(process.env.CITYGW_WORKER_INDEX ?? 0)), log)
  } catch (err) {
    // A worker's IPC channel to the primary keeps it alive after a failed start: without this exit it
    // would neither serve nor be started again (seen: a JetStream timeout creating a bucket at a cold start).
    process.stderr.write(`citygw: ${isGatewayError(err) ? `${err.message} (${err.code})` : (err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  }
}

export function addStartCommand (program: Command): void {
  program.command('start')
    .description('run the gateway until SIGINT/SIGTERM (configuration from environment variables, see README)')
    .option('--workers <n>', 'cluster mode: run n gateway nodes on this machine sharing its ports ("auto" = number of cores)', parseWorkers)
    .action(start)
}
