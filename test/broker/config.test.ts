import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../broker/config.ts'

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      MQTT_HOST: '0.0.0.0', MQTT_PORT: 1883, HTTP_PORT: 8080, DATA_DIR: resolve('./data'), INFLUX_API: 'v2',
      INFLUX_BUCKET: 'city', INFLUX_DATABASE: 'city', LOG_LEVEL: 'info', MAX_MESSAGE_BYTES: 65536, BACKFILL_DAYS: 30,
      NATS_ACK_WAIT_MS: 30_000,
    })
    expect(config.INFLUX_URL).toBeUndefined()
    expect(config.MQTTS_PORT).toBeUndefined()
    expect(config.WS_PORT).toBeUndefined()
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('reads and coerces environment variables', () => {
    const config = loadConfig({ MQTT_PORT: '1884', INFLUX_URL: 'http://influx:8086', INFLUX_API: 'v1', SPOOL_GROUP_COMMIT_MS: '2.5' })
    expect(config).toMatchObject({ MQTT_PORT: 1884, INFLUX_URL: 'http://influx:8086', INFLUX_API: 'v1', SPOOL_GROUP_COMMIT_MS: 2.5 })
  })

  it.each([
    [{ MQTT_PORT: '70000' }, 'MQTT_PORT'],
    [{ HTTP_PORT: 'http' }, 'HTTP_PORT'],
    [{ INFLUX_URL: 'influx:8086' }, 'INFLUX_URL'],
    [{ INFLUX_API: 'v3' }, 'INFLUX_API'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ MQTTS_PORT: '8883' }, 'MQTTS_PORT'],
    [{ MAX_MESSAGE_BYTES: '1000000' }, 'MAX_PACKET_BYTES'],
    [{ NATS_ACK_WAIT_MS: '500' }, 'NATS_ACK_WAIT_MS'],
  ])('stops on %j naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(variable))
  })

  it('takes values from CONFIG_FILE that the environment does not set', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'citygw-config-'))
    const file = join(dir, 'gateway.yaml')
    await writeFile(file, 'MQTT_PORT: 2883\nINFLUX_URL: http://db:8086\n')
    expect(loadConfig({ CONFIG_FILE: file, MQTT_PORT: '3883' })).toMatchObject({ MQTT_PORT: 3883, INFLUX_URL: 'http://db:8086' })
    await writeFile(file, 'MQTT_PROT: 2883\n')
    expect(() => loadConfig({ CONFIG_FILE: file })).toThrow(/MQTT_PROT/)
  })
})
