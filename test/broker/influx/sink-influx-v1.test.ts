// The v1 sink against a real influxd 1.6 (and a second one with auth enabled), through the contract.
import { pino } from 'pino'
import { afterAll, beforeAll } from 'vitest'
import { createInfluxV1Sink } from '../../../broker/influx/sink-influx-v1.ts'
import { createSink } from '../../../broker/influx/create-sink.ts'
import { startInfluxDb1, type InfluxDb1Server } from '../../helpers/influxdb.ts'
import { describeSinkContract } from '../../contracts/sink.contract.ts'

const log = pino({ level: 'silent' })
let influx: InfluxDb1Server
let secured: InfluxDb1Server

beforeAll(async () => {
  [influx, secured] = await Promise.all([
    startInfluxDb1({ databases: ['city'] }),
    startInfluxDb1({ databases: ['city'], auth: { username: 'admin', password: 'right-password' } }),
  ])
})
afterAll(async () => {
  await Promise.all([influx?.close(), secured?.close()])
})

describeSinkContract('influx-v1 → influxd 1.6', () => Promise.resolve({
  sink: createSink({ api: 'v1', url: influx.url, database: 'city', bucket: 'unused', timeoutMs: 5000, log }),
  createSinkAt: (url: string, timeoutMs: number) => createInfluxV1Sink({
    url, database: 'city', retentionPolicy: 'autogen', username: 'writer', password: 's3cret', timeoutMs, log,
  }),
  async readBack (measurement: string, field: string) {
    const results = await influx.query(`SELECT "${field}" FROM "${measurement}"`, 'city')
    const values = results[0]?.series?.[0]?.values ?? []
    return values.map(([tsMs, value]) => ({ tsMs: tsMs as number, value: value as number }))
  },
  stopServer: () => influx.stop(),
  startServer: () => influx.start(),
  createSinkWithWrongCredentials: () => createInfluxV1Sink({
    url: secured.url, database: 'city', username: 'admin', password: 'wrong-password', timeoutMs: 5000, log,
  }),
  refusesMalformedLines: true,
  refusesTypeConflicts: true,
  expectedWritePath: '/write?db=city&precision=ms&rp=autogen',
  expectedAuthorization: `Basic ${Buffer.from('writer:s3cret').toString('base64')}`,
}))

describeSinkContract('influx-v1 → influxd 1.6 with auth enabled', () => Promise.resolve({
  sink: createInfluxV1Sink({ url: secured.url, database: 'city', username: 'admin', password: 'right-password', timeoutMs: 5000, log }),
  createSinkAt: (url: string, timeoutMs: number) => createInfluxV1Sink({ url, database: 'city', timeoutMs, log }),
  async readBack (measurement: string, field: string) {
    const results = await secured.query(`SELECT "${field}" FROM "${measurement}"`, 'city')
    const values = results[0]?.series?.[0]?.values ?? []
    return values.map(([tsMs, value]) => ({ tsMs: tsMs as number, value: value as number }))
  },
  stopServer: () => secured.stop(),
  startServer: () => secured.start(),
  createSinkWithWrongCredentials: () => createInfluxV1Sink({ url: secured.url, database: 'city', timeoutMs: 5000, log }),
  refusesMalformedLines: true,
  refusesTypeConflicts: true,
  expectedWritePath: '/write?db=city&precision=ms',
  expectedAuthorization: undefined,
}))
