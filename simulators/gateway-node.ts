// A gateway node as a child process (`citygw start` from the sources) for the cluster demo: its
// log (pino JSON) goes to a file, its ports come from its 'gateway started' line, and it can be
// killed like a crashed machine (SIGKILL) or stopped (SIGTERM).
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const CITYGW = fileURLToPath(new URL('../bin/citygw.js', import.meta.url))
const START_TIMEOUT_MS = 30_000

export interface GatewayNode {
  readonly name: string
  readonly mqttUrl: string
  readonly httpUrl: string
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  /** Open MQTT connections, from its /metrics (undefined when it does not answer). */
  connections(): Promise<number | undefined>
}

export async function spawnGatewayNode (name: string, env: NodeJS.ProcessEnv, logFile: string): Promise<GatewayNode> {
  const child = spawn(process.execPath, [CITYGW, 'start'], { env: { ...env, NODE_NAME: name }, stdio: ['ignore', 'pipe', 'pipe'] })
  process.on('exit', function killNode () { child.kill('SIGKILL') })
  const log = createWriteStream(logFile, { flags: 'a' })
  child.stderr.pipe(log)
  const exited = new Promise<number | null>(function onExit (resolve) { child.once('exit', resolve) })
  const ports = await new Promise<{ mqtt: number, http: number }>(function waitForStart (resolve, reject) {
    const timer = setTimeout(function tooSlow () { reject(new Error(`gateway node ${name} did not start within ${START_TIMEOUT_MS / 1000} s (log: ${logFile})`)) }, START_TIMEOUT_MS)
    createInterface({ input: child.stdout }).on('line', function onLine (line) {
      log.write(`${line}\n`)
      if (!line.includes('"gateway started"')) return
      clearTimeout(timer)
      resolve((JSON.parse(line) as { ports: { mqtt: number, http: number } }).ports)
    })
    void exited.then(function exitedEarly (code) {
      clearTimeout(timer)
      reject(new Error(`gateway node ${name} exited with ${String(code)} before starting (log: ${logFile})`))
    })
  })
  const httpUrl = `http://127.0.0.1:${ports.http}`
  return {
    name,
    mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
    httpUrl,
    child,
    exited,
    async connections () {
      try {
        const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(2000) })
        const match = /^citygw_mqtt_connections(?:\{[^}]*\})? (\d+)/m.exec(await res.text())
        return match === null ? undefined : Number(match[1])
      } catch {
        return undefined
      }
    },
  }
}
