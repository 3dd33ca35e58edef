// access points as line protocol: tags consumer and route, status and rows as integers, the query cut
// to its bound, and two requests in one millisecond kept as two points.
import { describe, expect, it } from 'vitest'
import { ACCESS_QUERY_MAX_CHARS, createAccessLog } from '../../../broker/consumers/access-log.ts'

describe('access points', () => {
  it('writes one line per request with route tag, status, rows and a bounded query', async () => {
    const lines: string[] = []
    const log = createAccessLog({ spool: { append (l) { lines.push(...l); return Promise.resolve() } }, now: () => 1_700_000_000_000 })
    await log.record({ consumer: 'portal', route: '/api/devices/:id', status: 200, rows: 1, path: '/api/devices/lp-1', query: 'a=1' })
    await log.record({ consumer: 'portal', route: '/api/devices/:id', status: 404, rows: undefined, path: '/api/devices/x', query: 'x'.repeat(5000) })
    expect(lines[0]).toBe('access,consumer=portal,route=/api/devices/:id status=200i,rows=1i,path="/api/devices/lp-1",query="a=1" 1700000000000')
    // Same consumer, route and millisecond: the next millisecond, so InfluxDB keeps both points.
    expect(lines[1]).toBe(`access,consumer=portal,route=/api/devices/:id status=404i,path="/api/devices/x",query="${'x'.repeat(ACCESS_QUERY_MAX_CHARS)}" 1700000000001`)
  })
})
