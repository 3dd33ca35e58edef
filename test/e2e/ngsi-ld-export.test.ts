// The real gateway process with NGSI_LD_URL, real MQTT.js devices, and a stand-in context broker
// that is down (503) while the devices report, while the gateway is SIGKILLed and restarted on the
// same DATA_DIR, and after more readings: once it answers, every device's entity holds its latest
// reading, sent as few coalesced updates; the token reaches neither the logs nor the disk.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect, it, onTestFinished } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { spawnGatewayProcess } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { startNgsiLdServer } from '../helpers/ngsi-ld-server.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const TOKEN = 'ngsi-token-0123456789abcdef'

async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

it('delivers every device\'s latest reading after an outage spanning a SIGKILL and restart', async () => {
  const server = await startNgsiLdServer()
  onTestFinished(() => server.close())
  server.behave({ mode: 'down' })
  const dataDir = await makeTempDir('citygw-ngsi-')
  onTestFinished(() => removeTempDir(dataDir))
  const devices = [
    { id: 'lp-a', kind: 'lamp-post', lat: 52.52, lon: 13.4 },
    { id: 'lp-b', kind: 'lamp-post', lat: 52.53, lon: 13.41 },
    { id: 'wp-a', kind: 'water-pipe', lat: 52.5, lon: 13.39 },
    { id: 'mh-a', kind: 'manhole', lat: 52.51, lon: 13.38 },
  ] as const
  const secrets = new Map<string, string>()
  for (const d of devices) secrets.set(d.id, (await addDevice(registryPath(dataDir), { id: d.id, kind: d.kind, district: 'centre', lat: d.lat, lon: d.lon })).secret)
  const env = { DATA_DIR: dataDir, NGSI_LD_URL: server.url, NGSI_LD_TENANT: 'city', NGSI_LD_TOKEN: TOKEN, NGSI_LD_FLUSH_MS: '100' }

  const base = Date.now() - 600_000
  function reading (kind: string, i: number): Record<string, unknown> {
    const ts = base + i * 1000
    if (kind === 'lamp-post') return { ts, commandedLevel: 100, supplyVoltage: 230, activePower: i }
    if (kind === 'water-pipe') return { ts, pressure: i, pH: 7 }
    return { ts, coverAngle: i % 180 }
  }
  async function report (mqttUrl: string, from: number, to: number, only?: string): Promise<void> {
    for (const d of devices) {
      if (only !== undefined && d.id !== only) continue
      const client = await connectDevice(mqttUrl, d.id, secrets.get(d.id)!)
      for (let i = from; i < to; i++) await client.publishAsync(`devices/${d.id}/telemetry`, JSON.stringify(reading(d.kind, i)), { qos: 1 })
      await client.endAsync()
    }
  }

  const first = await spawnGatewayProcess(env)
  onTestFinished(() => { first.child.kill('SIGKILL') })
  await report(first.mqttUrl, 0, 50)
  await eventually(() => server.requests.length, (n) => n >= 2, { what: 'refused requests while down' })
  // The exporter saves what it owes before its cursor moves past it; wait until that happened for all.
  await eventually(async () => (await readFile(join(dataDir, 'ngsi-ld/pending.json'), 'utf8').catch(() => '')), (text) => devices.every((d) => text.includes(`:${d.id}"`)) && text.includes('"value":49'), { what: 'the pending file' })
  first.child.kill('SIGKILL')
  await first.exited

  const second = await spawnGatewayProcess(env)
  onTestFinished(() => { second.child.kill('SIGKILL') })
  // Only lp-b reports after the restart: the others' entities can only come from before the kill.
  await report(second.mqttUrl, 50, 60, 'lp-b')
  const failedRequests = server.requests.length
  server.behave({ mode: 'ok' })
  const ids = ['urn:ngsi-ld:Streetlight:lp-a', 'urn:ngsi-ld:Streetlight:lp-b', 'urn:ngsi-ld:WaterQualityObserved:wp-a', 'urn:ngsi-ld:Device:mh-a']
  await eventually(() => ids.map((id) => server.entities.get(id)), (list) => list.every((e) => e !== undefined), { timeoutMs: 20_000, what: 'every device entity' })
  expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-a')).toMatchObject({ activePower: { value: 49, unitCode: 'WTT' }, location: { value: { coordinates: [13.4, 52.52] } } })
  expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-b')).toMatchObject({ activePower: { value: 59 } })
  expect(server.entities.get('urn:ngsi-ld:WaterQualityObserved:wp-a')).toMatchObject({ pressure: { value: 49, unitCode: 'KPA' } })
  expect(server.entities.get('urn:ngsi-ld:Device:mh-a')).toMatchObject({ coverAngle: { value: 49 } })
  // 210 readings reached the context broker as at most one update per device (two if the restart's
  // readings came in a round of their own).
  const delivered = server.requests.slice(failedRequests).filter((r) => r.status < 300).flatMap((r) => r.entities)
  expect(delivered.length).toBeLessThanOrEqual(2 * devices.length)
  expect(server.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}` && r.headers['ngsild-tenant'] === 'city')).toBe(true)

  second.child.kill('SIGTERM')
  expect(await second.exited).toBe(0)
  expect([...first.output(), ...second.output()].some((line) => line.includes(TOKEN))).toBe(false)
  for (const file of await filesUnder(dataDir)) {
    expect((await readFile(file)).includes(TOKEN), file).toBe(false)
  }
}, 90_000)
