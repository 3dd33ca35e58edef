// A real gateway for e2e tests, in this process (startTestGateway) or as a child process running
// `citygw start` (spawnGatewayProcess, for SIGKILL tests). Free ports on 127.0.0.1, a temp DATA_DIR.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../broker/config.ts'
import { createLogger } from '../../broker/log.ts'
import { startGateway, type Gateway } from '../../broker/main.ts'
import { addCrew, addDevice, type Credential } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { makeTempDir, removeTempDir } from './server-process.ts'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The `citygw` command as child processes in tests run it: the compiled build, which the suite's
 * global setup brings up to date with the sources first (test/global-setup.ts). Under tsx every
 * start costs about 1.2 s more CPU (3.0 against 1.8 s to "gateway started"), and the suite starts
 * hundreds. `bin/citygw.js`, the sources through tsx, has tests of its own.
 */
export const CITYGW_ENTRY = join(REPO_ROOT, 'dist/cli/index.js')

/** The script a `citygw` child process runs: CITYGW_ENTRY, or with `fromSources` bin/citygw.js (tsx). */
export function citygwEntry (fromSources = false): string {
  return fromSources ? join(REPO_ROOT, 'bin/citygw.js') : CITYGW_ENTRY
}

export interface TestGateway {
  readonly gateway: Gateway
  readonly dataDir: string
  readonly mqttUrl: string
  readonly httpUrl: string
  /** Log lines (pino JSON) written so far, parsed. */
  logs(): Record<string, unknown>[]
  /** Stops the gateway; keeps DATA_DIR unless `removeData`. */
  close(removeData?: boolean): Promise<void>
}

export interface TestGatewayOptions {
  env?: Record<string, string>
  /** Reuse a DATA_DIR (restart tests). */
  dataDir?: string
}

export async function startTestGateway (options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = options.dataDir ?? await makeTempDir('citygw-data-')
  const config = loadConfig({
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    REGISTRY_POLL_MS: '100',
    ...options.env,
  })
  const logFile = join(dataDir, `gateway-${Date.now()}.log`)
  const lines: Record<string, unknown>[] = []
  const logStream = createWriteStream(logFile)
  const log = createLogger(config.LOG_LEVEL, {
    write (line: string) {
      // A late line (a registry reload finishing during close) after the file was closed is kept in memory only.
      if (!logStream.writableEnded) logStream.write(line)
      lines.push(JSON.parse(line) as Record<string, unknown>)
    },
  })
  const gateway = await startGateway(config, log)
  return {
    gateway,
    dataDir,
    mqttUrl: `mqtt://127.0.0.1:${gateway.ports.mqtt}`,
    httpUrl: `http://127.0.0.1:${gateway.ports.http}`,
    logs () { return lines },
    async close (removeData = false) {
      await gateway.close()
      logStream.end()
      if (removeData) await removeTempDir(dataDir)
    },
  }
}

export async function registerDevice (dataDir: string, id: string, kind: string, district = 'north'): Promise<Credential> {
  return addDevice(registryPath(dataDir), { id, kind, district })
}

export async function registerCrew (dataDir: string, name: string, districts?: string[]): Promise<Credential> {
  return addCrew(registryPath(dataDir), name, districts)
}

export interface GatewayProcess {
  readonly child: ChildProcess
  readonly mqttUrl: string
  readonly httpUrl: string
  readonly exited: Promise<number | null>
  /** Every stdout line so far (pino JSON), raw. */
  output(): string[]
}

/**
 * Runs `citygw start` (CITYGW_ENTRY; with `fromSources`, `node bin/citygw.js start`, the sources
 * through tsx); with `asNpmStart`, what `npm start` runs (scripts/start.sh: the compiled build with
 * its node flags); with `viaNpm`, `npm start` itself. Resolves once it logged 'gateway started'.
 */
export async function spawnGatewayProcess (env: Record<string, string>, options: { asNpmStart?: boolean, viaNpm?: boolean, fromSources?: boolean, startArgs?: string[] } = {}): Promise<GatewayProcess> {
  const [command, args] = options.viaNpm === true
    ? ['npm', ['start', '--silent']]
    : options.asNpmStart === true
      ? ['bash', [join(REPO_ROOT, 'scripts/start.sh')]]
      : [process.execPath, [citygwEntry(options.fromSources), 'start', ...(options.startArgs ?? [])]]
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, MQTT_HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', REGISTRY_POLL_MS: '100', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // npm's own process group, so a test can stop everything under it even if npm leaves a child behind.
    detached: options.viaNpm === true,
  })
  const output: string[] = []
  let stderr = ''
  child.stderr?.on('data', function keepStderr (chunk: Buffer) { stderr += chunk.toString() })
  const exited = new Promise<number | null>(function onExit (resolve) { child.once('exit', resolve) })
  const started = new Promise<{ mqtt: number; http: number }>(function waitForStart (resolve, reject) {
    const timer = setTimeout(function startTimeout () { reject(new Error(`gateway did not start in 20 s:\n${output.join('\n')}\n${stderr}`)) }, 20_000)
    createInterface({ input: child.stdout }).on('line', function onLine (line) {
      output.push(line)
      if (line.includes('"gateway started"')) {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { ports: { mqtt: number; http: number } }).ports)
      }
    })
    void exited.then(function exitedEarly (code) {
      clearTimeout(timer)
      reject(new Error(`gateway exited with ${String(code)} before starting:\n${output.join('\n')}\n${stderr}`))
    })
  })
  const ports = await started.catch(function killOnFailedStart (err: unknown) {
    // Never leave a half-started gateway running after the test: under npm, that is npm's whole group.
    try {
      if (options.viaNpm === true && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      else child.kill('SIGKILL')
    } catch { /* already gone */ }
    throw err
  })
  return { child, exited, mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`, httpUrl: `http://127.0.0.1:${ports.http}`, output () { return output } }
}
