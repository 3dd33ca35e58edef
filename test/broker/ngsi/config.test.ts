// Enters: environments with NGSI_LD_* settings. Checks: defaults, and the combinations refused at
// start with a message naming the variable.
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../../broker/config.ts'

describe('NGSI-LD configuration', () => {
  it('is off by default and has documented defaults when on', () => {
    expect(loadConfig({}).NGSI_LD_URL).toBeUndefined()
    const config = loadConfig({ NGSI_LD_URL: 'http://orion:1026' })
    expect(config).toMatchObject({
      NGSI_LD_CONTEXT: 'https://smartdatamodels.org/context.jsonld',
      NGSI_LD_BATCH_LINES: 20_000,
      NGSI_LD_BATCH_ENTITIES: 500,
      NGSI_LD_FLUSH_MS: 1000,
      NGSI_LD_TIMEOUT_MS: 10_000,
    })
  })

  it('refuses a token or tenant without a URL, a bad URL, and cluster mode without InfluxDB', () => {
    expect(() => loadConfig({ NGSI_LD_TOKEN: 't' })).toThrow(/NGSI_LD_TOKEN/)
    expect(() => loadConfig({ NGSI_LD_TENANT: 'city' })).toThrow(/NGSI_LD_TENANT/)
    expect(() => loadConfig({ NGSI_LD_URL: 'ftp://x' })).toThrow(/NGSI_LD_URL/)
    expect(() => loadConfig({ NGSI_LD_URL: 'http://orion:1026', NATS_URL: 'nats://127.0.0.1:4222' })).toThrow(/NGSI_LD_URL/)
    expect(loadConfig({ NGSI_LD_URL: 'http://orion:1026', NATS_URL: 'nats://127.0.0.1:4222', INFLUX_URL: 'http://influx:8086' }).NGSI_LD_URL).toBe('http://orion:1026')
  })
})
