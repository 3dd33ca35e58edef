import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it, onTestFinished } from 'vitest'
import { createLogger } from '../../../broker/log.ts'
import { parseListenOverflows, watchListenOverflows } from '../../../broker/mqtt/listen-overflows.ts'
import { LISTEN_OVERFLOW_POLL_MS } from '../../../broker/config.ts'

/** The shape of /proc/net/netstat: a header and a values line per group. */
function netstat (listenOverflows: number): string {
  return [
    'TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops',
    `TcpExt: 0 0 ${listenOverflows} ${listenOverflows + 3}`,
    'IpExt: InNoRoutes InTruncatedPkts',
    'IpExt: 0 0',
    '',
  ].join('\n')
}

it('reads TcpExt ListenOverflows', () => {
  expect(parseListenOverflows(netstat(7600))).toBe(7600)
  expect(parseListenOverflows('IpExt: InNoRoutes\nIpExt: 0\n')).toBeUndefined()
})

it('counts overflows since start and warns at most once per period, naming the host-wide scope and the backlog', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'citygw-netstat-')), 'netstat')
  writeFileSync(file, netstat(100))
  const lines: Record<string, unknown>[] = []
  const log = createLogger('info', { write (line: string) { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  let nowMs = 0
  const counted: number[] = []
  const watch = watchListenOverflows({ pollMs: LISTEN_OVERFLOW_POLL_MS, backlog: 4096, logIntervalMs: 60_000, onOverflows (n) { counted.push(n) }, log, file, now: () => nowMs })
  if (watch === undefined) throw new Error('no watch')
  onTestFinished(() => watch.close())

  await watch.poll()
  expect(counted).toEqual([]) // what happened before the start is the baseline
  writeFileSync(file, netstat(150))
  await watch.poll()
  writeFileSync(file, netstat(170))
  nowMs = 5000
  await watch.poll()
  nowMs = 61_000
  await watch.poll()
  expect(counted).toEqual([50, 20])
  const warnings = lines.filter((l) => l.reason === 'listen_overflow')
  expect(warnings).toHaveLength(2)
  expect(warnings[0]).toMatchObject({ level: 40, overflows: 50, backlog: 4096, scope: 'host' })
  expect(warnings[1]).toMatchObject({ overflows: 20 })
  expect(String(warnings[0]?.msg)).toContain('host-wide')
})

it('does nothing where /proc/net/netstat is missing', () => {
  const log = createLogger('silent')
  expect(watchListenOverflows({ pollMs: LISTEN_OVERFLOW_POLL_MS, backlog: 511, logIntervalMs: 1000, onOverflows () {}, log, file: '/nonexistent/netstat' })).toBeUndefined()
})
