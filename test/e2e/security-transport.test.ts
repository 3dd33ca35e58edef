// TLS and WebSocket listeners apply the same authentication and topic rules as TCP (real MQTT.js
// clients over mqtts:// and ws://), `citygw cert` makes usable certificates, and a client
// certificate signed by TLS_CA authenticates a device (CN = device id) without a password.
import { execFile } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { IClientOptions, MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCertificate } from '../../broker/cert.ts'
import { CITYGW_ENTRY, REPO_ROOT, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { connectClient, connectDevice, connectOutcome, subscribeCodes } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const run = promisify(execFile)
// This suite fails logins on purpose; the backoff for 127.0.0.1 is tested in security-limits.
const MANY_FAILURES = { AUTH_FAILURES_BEFORE_BACKOFF: '1000', AUTH_FAILURES_BEFORE_LOCKOUT: '1000' }
let dir: string
let gw: TestGateway
let secret: string
let tls: { ca: Buffer }
let clientCert: { cert: Buffer; key: Buffer }
let strangerCert: { cert: Buffer; key: Buffer }
const clients: MqttClient[] = []

beforeAll(async () => {
  dir = await makeTempDir('citygw-tls-')
  // The CLI, as an operator would run it: a server certificate, a CA, a device certificate.
  await run(process.execPath, [CITYGW_ENTRY, 'cert', '--out-dir', dir, '--cn', 'localhost', '--days', '2'], { cwd: REPO_ROOT })
  await run(process.execPath, [CITYGW_ENTRY, 'cert', '--out-dir', dir, '--ca', '--cn', 'test-ca'], { cwd: REPO_ROOT })
  const device = await createCertificate({ outDir: dir, cn: 'tls-dev', days: 1, caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), name: 'tls-dev' })
  const stranger = await createCertificate({ outDir: dir, cn: 'not-registered', days: 1, caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), name: 'stranger' })
  tls = { ca: readFileSync(join(dir, 'cert.pem')) }
  clientCert = { cert: readFileSync(device.cert), key: readFileSync(device.key) }
  strangerCert = { cert: readFileSync(stranger.cert), key: readFileSync(stranger.key) }
  gw = await startTestGateway({
    env: { MQTTS_PORT: '0', TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem'), TLS_CA: join(dir, 'ca.pem'), TLS_CLIENT_AUTH: 'optional', WS_PORT: '0', ...MANY_FAILURES },
  })
  secret = (await registerDevice(gw.dataDir, 'tls-dev', 'manhole')).secret
  await registerDevice(gw.dataDir, 'other-dev', 'manhole')
  await gw.gateway.reloadRegistry()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await gw?.close(true)
  if (dir !== undefined) await removeTempDir(dir)
})

describe('citygw cert', () => {
  it('writes keys with mode 0600 and refuses to overwrite them', async () => {
    for (const key of ['key.pem', 'ca-key.pem', 'tls-dev-key.pem']) expect(statSync(join(dir, key)).mode & 0o777).toBe(0o600)
    await expect(run(process.execPath, [CITYGW_ENTRY, 'cert', '--out-dir', dir], { cwd: REPO_ROOT })).rejects.toThrow(/exists; pass --force/)
  })
})

const transports: [string, () => string, IClientOptions][] = [
  ['mqtts://', () => `mqtts://localhost:${gw.gateway.ports.mqtts}`, {}],
  ['ws://', () => `ws://127.0.0.1:${gw.gateway.ports.ws}`, {}],
]

describe.each(transports)('over %s', (_name, url, extra) => {
  const opts = (o: IClientOptions): IClientOptions => ({ ...extra, ca: tls.ca, ...o })

  it('refuses a wrong secret, anonymous clients and a client id that is not the username', async () => {
    expect(await connectOutcome(url(), opts({ clientId: 'tls-dev', username: 'tls-dev', password: 'wrong' }))).toMatch(/Bad username or password/i)
    expect(await connectOutcome(url(), opts({ clientId: 'tls-dev' }))).toMatch(/Not authorized/i)
    expect(await connectOutcome(url(), opts({ clientId: 'other-dev', username: 'tls-dev', password: secret }))).toMatch(/Not authorized/i)
  })

  it('stores the device\'s own telemetry, refuses foreign subscriptions and closes on a foreign publish', async () => {
    const client = await connectDevice(url(), 'tls-dev', secret, opts({}))
    clients.push(client)
    const before = await accepted()
    await client.publishAsync('devices/tls-dev/telemetry', JSON.stringify({ coverAngle: 5 }), { qos: 1 })
    expect(await accepted()).toBe(before + 1)
    expect(await subscribeCodes(client, ['devices/other-dev/errors', 'devices/tls-dev/errors'])).toEqual([128, 1])
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
    client.publish('devices/other-dev/telemetry', '{"coverAngle":1}', { qos: 1 })
    await closed
  })
})

describe('client certificates (TLS_CLIENT_AUTH=optional)', () => {
  const url = (): string => `mqtts://localhost:${gw.gateway.ports.mqtts}`

  it('admits a device by its certificate without a password', async () => {
    const client = await connectClient(url(), { clientId: 'tls-dev', ca: tls.ca, ...clientCert })
    clients.push(client)
    const before = await accepted()
    await client.publishAsync('devices/tls-dev/telemetry', JSON.stringify({ coverAngle: 6 }), { qos: 1 })
    expect(await accepted()).toBe(before + 1)
  })

  it('still requires the client id to equal the certificate CN, and a given password to be right', async () => {
    expect(await connectOutcome(url(), { ca: tls.ca, ...clientCert, clientId: 'other-dev' })).toMatch(/Not authorized/i)
    expect(await connectOutcome(url(), { ca: tls.ca, ...clientCert, clientId: 'tls-dev', username: 'tls-dev', password: 'wrong' })).toMatch(/Bad username or password/i)
    expect(await connectOutcome(url(), { ca: tls.ca, ...clientCert, clientId: 'other-dev', username: 'other-dev', password: secret })).toMatch(/Not authorized/i)
  })

  it('does not admit a certificate whose CN is no registered device, nor a certificate on the plain port', async () => {
    expect(await connectOutcome(url(), { ca: tls.ca, ...strangerCert, clientId: 'not-registered' })).toMatch(/Not authorized/i)
    expect(await connectOutcome(gw.mqttUrl, { clientId: 'tls-dev' })).toMatch(/Not authorized/i)
  })

  it('refuses the TLS handshake without a certificate when TLS_CLIENT_AUTH=require', async () => {
    const strict = await startTestGateway({
      env: { MQTTS_PORT: '0', TLS_CERT: join(dir, 'cert.pem'), TLS_KEY: join(dir, 'key.pem'), TLS_CA: join(dir, 'ca.pem'), TLS_CLIENT_AUTH: 'require', ...MANY_FAILURES },
    })
    try {
      await registerDevice(strict.dataDir, 'tls-dev', 'manhole')
      await strict.gateway.reloadRegistry()
      const strictUrl = `mqtts://localhost:${strict.gateway.ports.mqtts}`
      expect(await connectOutcome(strictUrl, { ca: tls.ca, clientId: 'tls-dev', username: 'tls-dev', password: secret })).not.toBe('connected')
      expect(await connectOutcome(strictUrl, { ca: tls.ca, ...clientCert, clientId: 'tls-dev' })).toBe('connected')
      await eventually(async () => (await fetch(`${strict.httpUrl}/metrics`)).text(), (t) => /citygw_limits_exceeded_total\{limit="tls_handshake"\} [1-9]/.test(t), { what: 'a counted TLS handshake failure' })
    } finally {
      await strict.close(true)
    }
  })
})

async function accepted (): Promise<number> {
  const text = await (await fetch(`${gw.httpUrl}/metrics`)).text()
  return Number(/^citygw_readings_total\{outcome="accepted"\} (\d+)/m.exec(text)?.[1] ?? 0)
}
