// Open connections, in total and per address, counted at accept: a refused socket is closed before
// TLS or any parsing. The per-address table only holds addresses with open connections.

export type ConnectionVerdict = 'ok' | 'connections' | 'connections_per_ip'

export interface ConnectionLimiter {
  /** Counts a new connection from `ip`, or says which limit refuses it (then nothing is counted). */
  admit(ip: string): ConnectionVerdict
  /** The connection admitted for `ip` closed. */
  release(ip: string): void
  readonly open: number
}

export function createConnectionLimiter (options: { maxTotal: number; maxPerIp: number }): ConnectionLimiter {
  const perIp = new Map<string, number>()
  let open = 0
  return {
    admit (ip) {
      if (open >= options.maxTotal) return 'connections'
      const current = perIp.get(ip) ?? 0
      if (current >= options.maxPerIp) return 'connections_per_ip'
      perIp.set(ip, current + 1)
      open++
      return 'ok'
    },
    release (ip) {
      const current = perIp.get(ip)
      if (current === undefined) return
      open--
      if (current <= 1) perIp.delete(ip)
      else perIp.set(ip, current - 1)
    },
    get open () { return open },
  }
}
