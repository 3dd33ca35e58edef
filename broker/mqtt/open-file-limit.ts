// The process's open-file limit → how many connections the gateway may hold. Every connection is a
// file descriptor, and so are the spool's segments, InfluxDB and API sockets and the data files: a
// connection limit above the open-file limit lets a reconnect storm take the descriptors the spool
// needs (EMFILE: readings refused). The limit is read from /proc, as Node cannot ask for it.
import { readFileSync } from 'node:fs'

export const LIMITS_FILE = '/proc/self/limits'

/** The soft "Max open files" limit, or undefined where it cannot be read (not Linux) or is unlimited. */
export function readOpenFileLimit (limitsFile = LIMITS_FILE): number | undefined {
  let text: string
  try {
    text = readFileSync(limitsFile, 'utf8')
  } catch {
    return undefined
  }
  const match = /^Max open files\s+(\d+)/m.exec(text)
  return match === null ? undefined : Number(match[1])
}

/** MAX_CONNECTIONS, lowered to leave `reserve` descriptors for everything else when the limit is known. */
export function connectionCap (maxConnections: number, openFileLimit: number | undefined, reserve: number): number {
  if (openFileLimit === undefined) return maxConnections
  return Math.max(1, Math.min(maxConnections, openFileLimit - reserve))
}
