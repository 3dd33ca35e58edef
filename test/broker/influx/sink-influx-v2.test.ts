// The v2 sink against a real VictoriaMetrics (/api/v2/write), through the contract. VictoriaMetrics
// skips malformed lines with 204 and stores every field as a float, so those two checks become
// "nothing good is lost"; a second instance with -httpAuth checks the 401 classification.
import { pino } from 'pino'
import { afterAll, beforeAll } from 'vitest'
import { createInfluxV2Sink } from '../../../broker/influx/sink-influx-v2.ts'
import { createSink } from '../../../broker/influx/create-sink.ts'
import { startVictoriaMetrics, type VictoriaMetricsServer } from '../../helpers/victoria-metrics.ts'
import { describeSinkContract } from '../../contracts/sink.contract.ts'

const log = pino({ level: 'silent' })
let vm: VictoriaMetricsServer
let secured: VictoriaMetricsServer

beforeAll(async () => {
  [vm, secured] = await Promise.all([
    startVictoriaMetrics(),
    startVictoriaMetrics({ httpAuth: { username: 'gateway', password: 'right-password' } }),
  ])
})
afterAll(async () => {
  await Promise.all([vm?.close(), secured?.close()])
})

describeSinkContract('influx-v2 → VictoriaMetrics 1.79 /api/v2/write', () => Promise.resolve({
  sink: createSink({ api: 'v2', url: vm.url, token: 'any-token', org: 'city-org', bucket: 'city', database: 'unused', timeoutMs: 5000, log }),
  createSinkAt: (url: string, timeoutMs: number) => createInfluxV2Sink({ url, token: 'tok3n', org: 'city-org', bucket: 'city', timeoutMs, log }),
  async readBack (measurement: string, field: string, expectedPoints: number) {
    const series = await vm.export(`{__name__="${measurement}_${field}"}`, { minSamples: expectedPoints })
    return series
      .flatMap((s) => s.values.map((value, i) => ({ tsMs: s.timestamps[i] ?? Number.NaN, value })))
      .sort((a, b) => a.tsMs - b.tsMs)
  },
  stopServer: () => vm.stop(),
  startServer: () => vm.start(),
  createSinkWithWrongCredentials: () => createInfluxV2Sink({ url: secured.url, token: 'wrong-token', bucket: 'city', timeoutMs: 5000, log }),
  refusesMalformedLines: false,
  refusesTypeConflicts: false,
  expectedWritePath: '/api/v2/write?bucket=city&precision=ms&org=city-org',
  expectedAuthorization: 'Token tok3n',
}))
