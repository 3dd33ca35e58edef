// Child processes of the bench runner: spawn with piped output (stdout split in lines, a tail of
// stderr kept for error messages), wait for a line, stop (SIGTERM, then SIGKILL), and kill every
// one still alive when the runner exits, whatever the reason; stop a list of them newest first.
// Plus per-process CPU, resident memory and open files, the processes below one, and the machine's
// CPU, from /proc.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { say } from './say.ts'

const live = new Set<ChildProcess>()
let isExitHooked = false

function hookExit (): void {
  if (isExitHooked) return
  isExitHooked = true
  process.on('exit', function killLeftovers () {
    for (const child of live) child.kill('SIGKILL')
  })
}

export interface BenchProcess {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  /** Resolves with the first stdout line accepted by `isWanted` (parsed JSON); rejects on exit or timeout. */
  waitForLine<T>(isWanted: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<T>
  /** Every stdout line that parsed as JSON, so far. */
  lines(): readonly Record<string, unknown>[]
  /** Last stderr (and unparsed stdout) output, for error messages. */
  tail(): string
  readonly exited: Promise<number | null>
  /** Resolves once its output is closed too (after `exited`, every line it wrote is in lines()). */
  readonly closed: Promise<void>
  /** SIGTERM, SIGKILL after killAfterMs; resolves once gone. */
  stop(killAfterMs?: number): Promise<void>
}

const TAIL_CHARS = 8192
const MAX_LINES_KEPT = 10_000

/** Spawns `options.command` (default: this Node) with `args`. */
export function startProcess (name: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; command?: string }): BenchProcess {
  hookExit()
  const child = spawn(options.command ?? process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] })
  if (child.pid === undefined) throw new Error(`${name}: spawn failed`)
  live.add(child)
  const parsed: Record<string, unknown>[] = []
  const waiters: { isWanted: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = []
  let tail = ''
  function keepTail (text: string): void {
    tail = (tail + text).slice(-TAIL_CHARS)
  }
  child.stderr.on('data', function onStderr (chunk: Buffer) { keepTail(chunk.toString('utf8')) })
  createInterface({ input: child.stdout }).on('line', function onLine (text) {
    let line: Record<string, unknown>
    try {
      line = JSON.parse(text) as Record<string, unknown>
    } catch {
      keepTail(`${text}\n`)
      return
    }
    if (parsed.length < MAX_LINES_KEPT) parsed.push(line)
    for (const waiter of [...waiters]) {
      if (waiter.isWanted(line)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(line)
      }
    }
  })
  const exited = new Promise<number | null>(function waitExit (resolve) {
    child.once('exit', function onExit (code) {
      live.delete(child)
      resolve(code)
    })
  })

  const closed = new Promise<void>(function waitClose (resolve) {
    child.once('close', function onClose () { resolve() })
  })

  function waitForLine<T> (isWanted: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<T> {
    const seen = parsed.find(isWanted)
    if (seen !== undefined) return Promise.resolve(seen as T)
    return new Promise<T>(function waitLine (resolve, reject) {
      const timer = setTimeout(function lineTimeout () {
        reject(new Error(`${name}: no expected output within ${timeoutMs} ms\n${tail}`))
      }, timeoutMs)
      waiters.push({
        isWanted,
        resolve (line) {
          clearTimeout(timer)
          resolve(line as T)
        },
      })
      void exited.then(function exitedFirst (code) {
        clearTimeout(timer)
        reject(new Error(`${name} exited with ${String(code)} before the expected output\n${tail}`))
      })
    })
  }

  async function stop (killAfterMs = 10_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const killer = setTimeout(function killHard () { child.kill('SIGKILL') }, killAfterMs)
    await exited
    clearTimeout(killer)
  }

  return { name, child, pid: child.pid, waitForLine, lines () { return parsed }, tail () { return tail }, exited, closed, stop }
}

export type Stop = () => Promise<void>

/**
 * Runs `stops` newest first (what started last depends on what started before it), each awaited;
 * a failing one is reported as `<label> failed: …` and does not keep the others from running.
 */
export async function stopInReverse (stops: Stop[], label: string): Promise<void> {
  for (const stop of stops.reverse()) await stop().catch(function reportStop (err: unknown) { say(`${label} failed: ${String(err)}`) })
}

/** CPU time (user + system, ms) a process has used so far, from /proc; undefined off Linux. */
export function processCpuMs (pid: number): number | undefined {
  return statCpuMs(`/proc/${pid}/stat`)
}

/** CPU ms of a process's main thread and of all its other threads (libuv's pool, V8's helpers) together. */
export function threadCpuMs (pid: number): { mainMs: number; otherMs: number } | undefined {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  let mainMs = 0
  let otherMs = 0
  for (const tid of tids) {
    const ms = statCpuMs(`/proc/${pid}/task/${tid}/stat`) ?? 0
    if (Number(tid) === pid) mainMs += ms
    else otherMs += ms
  }
  return { mainMs, otherMs }
}

function statCpuMs (file: string): number | undefined {
  try {
    const stat = readFileSync(file, 'utf8')
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? ticks * 10 : undefined // USER_HZ is 100 on Linux
  } catch {
    return undefined
  }
}

/** `root` and every process below it (the workers of a node:cluster primary), from /proc; [root] off Linux. */
export async function processTree (root: number): Promise<number[]> {
  const childrenOf = new Map<number, number[]>()
  for (const name of await readdir('/proc').catch(function noProc () { return [] as string[] })) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = await readFile(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue // exited while we looked
    }
    // After the command name: state, then the parent's pid.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    const siblings = childrenOf.get(parent) ?? []
    siblings.push(Number(name))
    childrenOf.set(parent, siblings)
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) tree.push(...(childrenOf.get(tree[i] as number) ?? []))
  return tree
}

/** Busy and total jiffies of the whole machine, from /proc/stat; undefined off Linux. */
export function machineCpuTicks (): { busy: number; total: number } | undefined {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
    const values = first.trim().split(/\s+/).slice(1).map(Number)
    const total = values.reduce(function add (sum, v) { return sum + v }, 0)
    const idle = (values[3] ?? 0) + (values[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

/** Resident memory of a process (MB, from /proc); NaN off Linux. */
export function rssMb (pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? Number.NaN : Math.round(Number(match[1]) / 102.4) / 10
  } catch {
    return Number.NaN
  }
}

/** Soft open-file limit of a process and its open fds, from /proc. */
export async function fdFigures (pid: number): Promise<{ limit: number | null; inUse: number | null }> {
  try {
    const limits = await readFile(`/proc/${pid}/limits`, 'utf8')
    const match = /Max open files\s+(\d+)/.exec(limits)
    return { limit: match === null ? null : Number(match[1]), inUse: (await readdir(`/proc/${pid}/fd`)).length }
  } catch {
    return { limit: null, inUse: null }
  }
}

/**
 * One bench run: a temp dir and the stops of what it starts, both cleaned up at the end, and on
 * SIGINT or SIGTERM too (then the process exits 130).
 */
export async function withBenchRun<T> (prefix: string, run: (tmp: string, cleanups: Stop[]) => Promise<T>): Promise<T> {
  const tmp = await mkdtemp(join(os.tmpdir(), prefix))
  const cleanups: Stop[] = []
  async function cleanUp (): Promise<void> {
    await stopInReverse(cleanups, 'cleanup')
    cleanups.length = 0
    await rm(tmp, { recursive: true, force: true, maxRetries: 3 })
  }
  function interrupted (signal: string): void {
    say(`${signal}: stopping everything…`)
    void cleanUp().finally(function exitAfterCleanup () { process.exit(130) })
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  try {
    return await run(tmp, cleanups)
  } finally {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    await cleanUp()
  }
}
