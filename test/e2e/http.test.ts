// Operator endpoints: /healthz, /readyz and /metrics in Prometheus text format.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'

let gw: TestGateway
beforeAll(async () => { gw = await startTestGateway() }) // no INFLUX_URL: readings wait in the spool
afterAll(async () => { await gw?.close(true) })

describe('HTTP endpoints', () => {
  it('GET /healthz answers while the process is up', async () => {
    const res = await fetch(`${gw.httpUrl}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok' })
  })

  it('GET /readyz is ready while spooling without InfluxDB, and says so', async () => {
    const res = await fetch(`${gw.httpUrl}/readyz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ready', broker: 'listening', storage: { state: 'spooling' } })
  })

  it('GET /metrics reports connections, messages, spool depth, write latency and alarms', async () => {
    const { secret } = await registerDevice(gw.dataDir, 'm-1', 'manhole')
    await gw.gateway.reloadRegistry()
    const client = await connectDevice(gw.mqttUrl, 'm-1', secret)
    await client.publishAsync('devices/m-1/telemetry', '{"coverAngle": 1}', { qos: 1 })
    await client.publishAsync('devices/m-1/telemetry', '{"coverAngle": 500}', { qos: 1 })
    const res = await fetch(`${gw.httpUrl}/metrics`)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    await client.endAsync()
    expect(text).toMatch(/^citygw_mqtt_connections 1$/m)
    expect(text).toMatch(/^citygw_messages_total\{outcome="accepted"\} 1$/m)
    expect(text).toMatch(/^citygw_messages_total\{outcome="rejected"\} 1$/m)
    expect(text).toMatch(/^citygw_spool_depth_records 2$/m)
    expect(text).toMatch(/^citygw_spool_oldest_age_seconds \d/m)
    expect(text).toMatch(/^# TYPE citygw_influx_write_seconds histogram$/m)
    expect(text).toMatch(/^citygw_alarms_active 0$/m)
  })

  it('answers 404 for unknown paths', async () => {
    expect((await fetch(`${gw.httpUrl}/nope`)).status).toBe(404)
  })
})
