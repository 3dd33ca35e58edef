// The API's InfluxQL client against a real InfluxDB 1.x: a quoted value with quotes and
// backslashes finds exactly its point and cannot widen the statement; unsafe identifiers are
// refused; a missing database is an empty result; unreachable, refusing or oversized answers are
// InfluxQlError (which the routes turn into 502 or a partial answer).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInfluxQlClient, identifier, InfluxQlError, MAX_ANSWER_BYTES, quoted, rowsOf } from '../../../broker/api/influxql.ts'
import { encodeAlarm } from '../../../broker/influx/line-protocol.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../../helpers/influxdb.ts'
import { freePort } from '../../helpers/ports.ts'

const options = (url: string, database = 'city') => ({ api: 'v1' as const, url, timeoutMs: 2000, database, bucket: 'unused' })

describe('InfluxQL client', () => {
  let influx: InfluxDb1Server
  let huge: Server
  let hugeUrl: string

  beforeAll(async () => {
    influx = await startInfluxDb1({ databases: ['city'] })
    const base = { deviceId: 'd1', district: 'north', kind: 'manhole', type: 't', severity: 'minor', state: 'acknowledged', value: 1, threshold: 2, message: 'm', change: 'acknowledged' as const, tsMs: Date.now() - 1000 }
    const lines = [
      encodeAlarm({ ...base, alarmId: 'a1', ackedBy: 'crew', ackNote: 'it\'s a \\ "trap" \' OR 1=1' }),
      encodeAlarm({ ...base, alarmId: 'a2', ackedBy: 'crew', ackNote: 'plain', tsMs: base.tsMs + 1 }),
    ]
    const res = await fetch(`${influx.url}/write?db=city&precision=ms`, { method: 'POST', body: lines.join('\n') })
    expect(res.status).toBe(204)
    // An "InfluxDB" answering more than the client reads.
    huge = createServer((_req, reply) => {
      reply.writeHead(200, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(1024 * 1024, 0x20)
      let sent = 0
      const more = (): void => {
        while (sent <= MAX_ANSWER_BYTES) {
          sent += chunk.length
          if (!reply.write(chunk)) { reply.once('drain', more); return }
        }
        reply.end()
      }
      more()
    })
    await new Promise<void>((resolve) => huge.listen(0, '127.0.0.1', resolve))
    hugeUrl = `http://127.0.0.1:${(huge.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await influx?.close()
    await new Promise((resolve) => huge?.close(resolve))
  })

  it('quotes a hostile value so that it matches itself only', async () => {
    const client = createInfluxQlClient(options(influx.url))
    const hostile = 'it\'s a \\ "trap" \' OR 1=1'
    expect(quoted(hostile)).toBe(String.raw`'it\'s a \\ "trap" \' OR 1=1'`)
    const rows = rowsOf(await client.query(`SELECT "alarm_id","note" FROM "alarms" WHERE "note" = ${quoted(hostile)} AND time > now() - 1h LIMIT 10`))
    expect(rows).toEqual([{ time: expect.any(Number) as number, alarm_id: 'a1', note: hostile }])
  })

  it('refuses identifiers that are not plain names', () => {
    expect(identifier('device_id')).toBe('"device_id"')
    for (const name of ['a"b', 'a b', '', 'x'.repeat(65), 'a\nb']) expect(() => identifier(name), name).toThrow(InfluxQlError)
  })

  it('answers a database or measurement without points with no series', async () => {
    expect(await createInfluxQlClient(options(influx.url, 'nowhere')).query('SELECT "state" FROM "alarms" WHERE time > now() - 1h LIMIT 1')).toEqual([])
    expect(await createInfluxQlClient(options(influx.url)).query('SELECT "x" FROM "nothing" WHERE time > now() - 1h LIMIT 1')).toEqual([])
  })

  it('turns an unreachable server, a refused statement and an oversized answer into InfluxQlError', async () => {
    const closed = createInfluxQlClient(options(`http://127.0.0.1:${await freePort()}`))
    await expect(closed.query('SELECT 1')).rejects.toThrow(/^InfluxDB unreachable/)
    await expect(createInfluxQlClient(options(influx.url)).query('SELEKT nonsense')).rejects.toThrow(InfluxQlError)
    await expect(createInfluxQlClient(options(hugeUrl)).query('SELECT "state" FROM "alarms" LIMIT 1')).rejects.toThrow(/larger than/)
  })
})
