// Secrets at rest and in logs: the registry and exported secret files are mode 0600, and a whole
// gateway run (logins right and wrong, crews, publishes, an InfluxDB with credentials, a registry
// change, shutdown) at LOG_LEVEL=debug never writes a device, crew or InfluxDB secret to its output.
import { execFile } from 'node:child_process'
import { statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it, onTestFinished } from 'vitest'
import { startInfluxDb1 } from '../helpers/influxdb.ts'
import { CITYGW_ENTRY, REPO_ROOT, registerCrew, registerDevice, spawnGatewayProcess } from '../helpers/gateway.ts'
import { connectClient, connectDevice, connectOutcome } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const run = promisify(execFile)

it('keeps secret files at mode 0600 and secrets out of the logs of a whole run', async () => {
  const auth = { username: 'admin', password: 'influx-Secret-7f3a9c' }
  const influx = await startInfluxDb1({ databases: ['city'], auth })
  onTestFinished(() => influx.close())
  const dataDir = await makeTempDir('citygw-secrets-')
  onTestFinished(() => removeTempDir(dataDir))

  const cli = (...args: string[]) => run(process.execPath, [CITYGW_ENTRY, ...args], { cwd: REPO_ROOT, env: { ...process.env, DATA_DIR: dataDir } })
  const added = JSON.parse((await cli('device', 'add', 'sec-1', '--kind', 'manhole', '--district', 'north', '--json')).stdout) as { secret: string }
  await writeFile(join(dataDir, 'import.csv'), 'id,kind,district,lat,lon\nsec-2,manhole,north,,\nsec-3,lamp-post,south,,\n')
  await cli('device', 'import', join(dataDir, 'import.csv'), '--out', join(dataDir, 'secrets.jsonl'))
  const other = await registerDevice(dataDir, 'sec-4', 'manhole')
  const crew = await registerCrew(dataDir, 'crew-sec', ['north'])
  for (const file of ['registry.json', 'secrets.jsonl']) expect(statSync(join(dataDir, file)).mode & 0o777, file).toBe(0o600)
  expect(statSync(dataDir).mode & 0o077).toBe(0)

  const gw = await spawnGatewayProcess({ DATA_DIR: dataDir, INFLUX_URL: influx.url, INFLUX_API: 'v1', INFLUX_USERNAME: auth.username, INFLUX_PASSWORD: auth.password, LOG_LEVEL: 'debug' })
  onTestFinished(() => { gw.child.kill('SIGKILL') })
  const device = await connectDevice(gw.mqttUrl, 'sec-1', added.secret)
  await device.publishAsync('devices/sec-1/telemetry', '{"coverAngle": 1}', { qos: 1 })
  await device.publishAsync('devices/sec-1/telemetry', '{"coverAngle": 999}', { qos: 1 })
  // Wrong secrets: another device's real one, and the crew's against a device.
  expect(await connectOutcome(gw.mqttUrl, { clientId: 'sec-1', username: 'sec-1', password: other.secret })).toMatch(/Bad username/)
  expect(await connectOutcome(gw.mqttUrl, { clientId: 'sec-4', username: 'sec-4', password: crew.secret })).toMatch(/Bad username/)
  expect(await connectOutcome(gw.mqttUrl, { clientId: 'x', username: 'sec-4', password: other.secret })).toMatch(/Not authorized/)
  const phone = await connectClient(gw.mqttUrl, { clientId: 'phone', username: 'crew-sec', password: crew.secret })
  await phone.subscribeAsync('alarms/north/#')
  await cli('device', 'remove', 'sec-4')
  await eventually(() => influx.count('city', 'manhole', 'coverAngle'), (n) => n === 1, { what: 'the stored reading' })
  await device.endAsync()
  await phone.endAsync()
  gw.child.kill('SIGTERM')
  expect(await gw.exited).toBe(0)

  const output = gw.output().join('\n')
  expect(output.length).toBeGreaterThan(1000)
  expect(output).toContain('"level":20') // debug lines were written
  const secrets = [added.secret, other.secret, crew.secret, auth.password, Buffer.from(`${auth.username}:${auth.password}`).toString('base64')]
  for (const secret of secrets) expect(output.includes(secret), `a secret in the log: ${secret.slice(0, 4)}…`).toBe(false)
}, 60_000)
