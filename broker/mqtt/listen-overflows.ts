// /proc/net/netstat's TcpExt ListenOverflows, polled → a counter and a throttled warning. The kernel
// counts, for the whole host (its network namespace), the handshakes it dropped because a listen
// queue was full; it does not say whose queue, so the warning says so and gives this gateway's
// backlog. Where the file is missing (not Linux), nothing is polled.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { Logger } from '../log.ts'

export const NETSTAT_FILE = '/proc/net/netstat'

export interface ListenOverflowWatchOptions {
  /** The listeners' backlog, for the log line. */
  backlog: number
  /** How often the counter is read, ms. */
  pollMs: number
  /** At most one warning per this period, ms (further overflows are summed into the next one). */
  logIntervalMs: number
  /** Overflows seen since the last poll (for the metric). */
  onOverflows(count: number): void
  log: Logger
  file?: string
  now?: () => number
}

export interface ListenOverflowWatch {
  /** Reads the counter now (the timer does it every pollMs). */
  poll(): Promise<void>
  close(): void
}

/** Undefined where /proc/net/netstat does not exist. */
export function watchListenOverflows (options: ListenOverflowWatchOptions): ListenOverflowWatch | undefined {
  const file = options.file ?? NETSTAT_FILE
  // The first reading is the baseline: overflows from before this gateway started are not its news.
  let last: number | undefined
  try {
    last = parseListenOverflows(readFileSync(file, 'utf8'))
  } catch {
    return undefined // no /proc/net/netstat here
  }
  const now = options.now ?? Date.now
  const log = options.log.child({ module: 'listeners' })
  let unlogged = 0
  let lastLogMs: number | undefined
  let isClosed = false

  async function poll (): Promise<void> {
    const total = parseListenOverflows(await readFile(file, 'utf8'))
    // A read that was under way at close(): the logger may already be gone.
    if (isClosed || total === undefined) return
    const delta = last === undefined || total < last ? 0 : total - last
    last = total
    if (delta > 0) {
      options.onOverflows(delta)
      unlogged += delta
    }
    const nowMs = now()
    if (unlogged === 0 || (lastLogMs !== undefined && nowMs - lastLogMs < options.logIntervalMs)) return
    log.warn({ reason: 'listen_overflow', overflows: unlogged, scope: 'host', backlog: options.backlog },
      'listen queue overflowed: the kernel dropped connection handshakes (a host-wide count, any listener on this host; LISTEN_BACKLOG and net.core.somaxconn size this gateway\'s queue)')
    unlogged = 0
    lastLogMs = nowMs
  }

  function pollLogged (): void {
    poll().catch(function unreadable (err: unknown) {
      log.debug({ err, file }, 'listen overflow counter unreadable')
    })
  }
  const timer = setInterval(pollLogged, options.pollMs)
  timer.unref()
  return {
    poll,
    close () {
      isClosed = true
      clearInterval(timer)
    },
  }
}

/** TcpExt ListenOverflows from /proc/net/netstat's text (a header line, then a values line). */
export function parseListenOverflows (text: string): number | undefined {
  const lines = text.split('\n')
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = (lines[i] as string).trim().split(/\s+/)
    const values = (lines[i + 1] as string).trim().split(/\s+/)
    if (names[0] !== 'TcpExt:' || values[0] !== 'TcpExt:') continue
    const at = names.indexOf('ListenOverflows')
    const value = at < 0 ? undefined : Number(values[at])
    return value === undefined || !Number.isSafeInteger(value) ? undefined : value
  }
  return undefined
}
