// MAX_CONNECTIONS (or LISTEN_BACKLOG) and the kernel's cap → the accept-queue length the listeners
// ask for. Node's default is 511: a reconnect storm of more devices than that overflows the queue
// and the kernel drops the excess handshakes, which then retry after 1, 3, 7… s or give up.
import { readFileSync } from 'node:fs'

/** Linux caps every listen backlog at this value (silently, so it is read and said). */
export const SOMAXCONN_FILE = '/proc/sys/net/core/somaxconn'

export interface ListenBacklog {
  /** What the listeners pass to listen(). */
  backlog: number
  /** What was asked for before the kernel's cap. */
  wanted: number
  /** The kernel's cap, or undefined where it cannot be read (not Linux, no /proc). */
  somaxconn: number | undefined
}

/** `wanted` capped by net.core.somaxconn when that can be read. */
export function listenBacklog (wanted: number, somaxconnFile = SOMAXCONN_FILE): ListenBacklog {
  const somaxconn = readSomaxconn(somaxconnFile)
  return { backlog: somaxconn === undefined ? wanted : Math.min(wanted, somaxconn), wanted, somaxconn }
}

function readSomaxconn (file: string): number | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined // no /proc here: the kernel caps it, if it does, without telling
  }
  const value = Number.parseInt(text.trim(), 10)
  return Number.isSafeInteger(value) && value > 0 ? value : undefined
}
