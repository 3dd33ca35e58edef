// A test server as a child process: spawn, wait until ready (bounded, failing with its output),
// stop (SIGTERM, then SIGKILL). The server runs under a small watchdog that kills it and removes
// its temp dir when the test process dies, even without running exit handlers (vitest workers).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const liveChildren = new Set<ChildProcess>()
const liveDirs = new Set<string>()
let isExitHooked = false

function hookExit (): void {
  if (isExitHooked) return
  isExitHooked = true
  process.on('exit', function killChildrenOnExit () {
    for (const child of liveChildren) child.stdin?.destroy()
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  })
}

/** Throws, naming the Debian package to install, when a server binary is missing. */
export function requireBinary (path: string, debianPackage: string): void {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: install it with \`apt-get install ${debianPackage}\``)
  }
}

/** A fresh temp dir, removed by removeTempDir() or at process exit. */
export async function makeTempDir (prefix: string): Promise<string> {
  hookExit()
  const dir = await mkdtemp(join(tmpdir(), prefix))
  liveDirs.add(dir)
  return dir
}

export async function removeTempDir (dir: string): Promise<void> {
  liveDirs.delete(dir)
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

export interface ServerProcess {
  readonly child: ChildProcess
  /** The last ~16 KiB of stdout and stderr, for error messages. */
  output(): string
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<void>
  /** SIGTERM, then SIGKILL after killAfterMs (default 5000); resolves once the process is gone. */
  stop(killAfterMs?: number): Promise<void>
}

const OUTPUT_TAIL_CHARS = 16_384

/**
 * Runs in its own node process between us and the server: forwards SIGTERM; when its stdin (a pipe
 * from the test process) closes — we asked for a hard stop, or the test process died — it SIGKILLs
 * the server, removes the orphaned dir if one was given, and exits with the server.
 */
const WATCHDOG = `
const { spawn } = require('node:child_process')
const { rmSync } = require('node:fs')
const [command, args, orphanDir] = JSON.parse(process.argv[1])
const server = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] })
const parentPid = process.ppid
let isOrphan = false
process.on('SIGTERM', () => server.kill('SIGTERM'))
process.on('SIGINT', () => server.kill('SIGTERM'))
process.stdin.on('data', () => {})
process.stdin.on('close', () => { isOrphan = true; server.kill('SIGKILL') })
process.stdin.on('end', () => { isOrphan = true; server.kill('SIGKILL') })
server.on('error', (err) => { process.stderr.write(String(err) + '\\n'); process.exit(127) })
server.on('exit', (code, signal) => {
  if ((isOrphan || process.ppid !== parentPid) && orphanDir) rmSync(orphanDir, { recursive: true, force: true })
  process.exit(code ?? (signal === 'SIGKILL' ? 137 : 143))
})
`

export function spawnServer (command: string, args: readonly string[], name: string, orphanDir?: string): ServerProcess {
  hookExit()
  const child = spawn(process.execPath, ['-e', WATCHDOG, JSON.stringify([command, args, orphanDir ?? ''])], { stdio: ['pipe', 'pipe', 'pipe'] })
  liveChildren.add(child)
  let tail = ''
  function keepTail (chunk: Buffer): void {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS)
  }
  child.stdout?.on('data', keepTail)
  child.stderr?.on('data', keepTail)
  const exited = new Promise<void>(function waitForExit (resolve) {
    child.once('exit', function onExit (code, signal) {
      liveChildren.delete(child)
      if (code !== null || signal !== null) keepTail(Buffer.from(`\n[${name} exited: code ${String(code)}, signal ${String(signal)}]`))
      resolve()
    })
    child.once('error', function onSpawnError (err) {
      liveChildren.delete(child)
      keepTail(Buffer.from(`\n[${name} failed to spawn: ${err.message}]`))
      resolve()
    })
  })
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null && liveChildren.has(child)

  async function stop (killAfterMs = 5000): Promise<void> {
    if (!isRunning()) return exited
    child.kill('SIGTERM')
    // Closing the watchdog's stdin makes it SIGKILL the server; SIGKILL of the watchdog itself only
    // if even that fails (it would orphan the server).
    const killHard = setTimeout(function killServerHard () { child.stdin?.destroy() }, killAfterMs)
    const killWatchdog = setTimeout(function killWatchdogHard () { child.kill('SIGKILL') }, killAfterMs + 5000)
    await exited
    clearTimeout(killHard)
    clearTimeout(killWatchdog)
  }
  return { child, output: () => tail, exited, stop }
}

/**
 * Polls isReady every 100 ms until it resolves true. Fails with the server's output if the
 * process exits first or timeoutMs (default 20 s) passes; on timeout the process is killed.
 */
export async function waitUntilReady (
  server: ServerProcess, name: string, isReady: () => Promise<boolean>, timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let hasExited = false
  void server.exited.then(function markExited () { hasExited = true })
  while (Date.now() < deadline) {
    if (hasExited) throw new Error(`${name} exited before it was ready:\n${server.output()}`)
    if (await isReady().catch(() => false)) return
    await sleep(100)
  }
  await server.stop(1000)
  throw new Error(`${name} was not ready after ${timeoutMs} ms:\n${server.output()}`)
}

/** Stop, start again (same dir and port) and close for one test server; outage tests use it. */
export interface RestartableServer {
  readonly isRunning: boolean
  stop(): Promise<void>
  start(): Promise<void>
  /** Stops the server and removes its dir. */
  close(): Promise<void>
}

/** Launches the server now; `launch` resolves once it is ready (and stops it itself if it never is). */
export async function startRestartable (dir: string, launch: () => Promise<ServerProcess>): Promise<RestartableServer> {
  let server: ServerProcess | undefined
  try {
    server = await launch()
  } catch (err) {
    await removeTempDir(dir)
    throw err
  }
  return {
    get isRunning () { return server !== undefined },
    async stop () {
      const running = server
      server = undefined
      await running?.stop()
    },
    async start () {
      server ??= await launch()
    },
    async close () {
      const running = server
      server = undefined
      await running?.stop()
      await removeTempDir(dir)
    },
  }
}

/** Spawns a server and waits until `isReady`; stops it again if it never gets there. */
export async function launchServer (command: string, args: readonly string[], name: string, dir: string, isReady: () => Promise<boolean>): Promise<ServerProcess> {
  const started = spawnServer(command, args, name, dir)
  try {
    await waitUntilReady(started, name, isReady)
    return started
  } catch (err) {
    await started.stop()
    throw err
  }
}
