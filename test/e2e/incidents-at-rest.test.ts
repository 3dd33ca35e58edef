// Incidents' personal data at rest with a real gateway process, MQTT.js lamp posts and the `citygw`
// CLI: a crew acknowledges an incident over the API; incidents.json holds who acknowledged only as an
// `enc1:` value while the API and `citygw incident list` show it in clear. The CLI without the key
// refuses, the gateway refuses to start without the key that sealed incidents.json, and rotate
// seals incidents.json again with the new key.
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { runCitygw } from '../helpers/citygw.ts'
import { registerCrew, spawnGatewayProcess, type GatewayProcess } from '../helpers/gateway.ts'
import { createDevicePublisher, type DevicePublisher } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const CREW = 'crew-north'
const LAMPS = ['lp-f3-1', 'lp-f3-2']
const DARK = { commandedLevel: 0, supplyVoltage: 0, activePower: 0 }

interface Incident { id: string; state: string; members: unknown[]; ackedBy?: string }
interface SavedIncidents { open: { incident: Incident }[]; closed: Incident[] }

async function stop (gw: GatewayProcess | undefined): Promise<void> {
  if (gw === undefined || gw.child.exitCode !== null) return
  gw.child.kill('SIGTERM')
  await gw.exited
}

describe('incidents at rest', () => {
  let root: string
  let dataDir: string
  let keyFile: string
  let firstKeyId: string
  let env: Record<string, string>
  let gw: GatewayProcess | undefined
  let devices: DevicePublisher | undefined
  let crew: Record<string, string>
  let incidentId: string

  async function apiIncidents (): Promise<Incident[]> {
    const res = await fetch(`${gw!.httpUrl}/api/incidents`, { headers: crew })
    expect(res.status).toBe(200)
    return ((await res.json()) as { incidents: Incident[] }).incidents
  }

  beforeAll(async () => {
    root = await makeTempDir('citygw-incidents-key-')
    dataDir = join(root, 'data')
    keyFile = join(root, 'secrets', 'data.key')
    const created = await runCitygw(['key', 'create', '--file', keyFile, '--json'], { DATA_DIR: dataDir })
    expect(created.code, created.stderr).toBe(0)
    firstKeyId = (JSON.parse(created.stdout) as { keyId: string }).keyId
    await writeFile(join(root, 'rules.yaml'), 'incidents: { minDevices: 2, windowSec: 60 }\n')
    env = { DATA_DIR: dataDir, DATA_KEY_FILE: keyFile, ALARM_RULES_FILE: join(root, 'rules.yaml'), NATS_URL: '' }
    const secrets: Record<string, string> = {}
    for (const id of LAMPS) secrets[id] = (await addDevice(registryPath(dataDir), { id, kind: 'lamp-post', district: 'north', group: 'feeder-3' })).secret
    crew = basic(CREW, (await registerCrew(dataDir, CREW, ['north'])).secret)
    gw = await spawnGatewayProcess(env)
    devices = createDevicePublisher(() => gw!.mqttUrl, secrets)
    for (const id of LAMPS) await devices.publish(id, DARK)
    incidentId = (await eventually(apiIncidents, (i) => i[0]?.members.length === 2, { what: 'the incident with its 2 members' }))[0]!.id
    const ack = await fetch(`${gw.httpUrl}/api/incidents/${incidentId}/ack`, { method: 'POST', headers: { 'content-type': 'application/json', ...crew }, body: JSON.stringify({ note: 'feeder 3 tripped' }) })
    expect(ack.status).toBe(200)
    await eventually(() => readFile(join(dataDir, 'incidents.json'), 'utf8'), (text) => text.includes('"acknowledged"'), { what: 'incidents.json with the acknowledgement' })
  }, 60_000)

  afterAll(async () => {
    await devices?.close()
    await stop(gw)
    if (root !== undefined) await removeTempDir(root)
  })

  it('keeps who acknowledged only sealed in incidents.json', async () => {
    const text = await readFile(join(dataDir, 'incidents.json'), 'utf8')
    expect(text).not.toContain(CREW)
    const saved = JSON.parse(text) as SavedIncidents
    expect(saved.open[0]!.incident).toMatchObject({ id: incidentId, state: 'acknowledged', ackedBy: expect.stringMatching(new RegExp(`^enc1:${firstKeyId}:[A-Za-z0-9_-]+$`)) as string })
  })

  it('shows who acknowledged in clear over the API and in `citygw incident list`; the CLI without the key refuses', async () => {
    expect((await apiIncidents()).find((i) => i.id === incidentId)).toMatchObject({ state: 'acknowledged', ackedBy: CREW })
    const listed = await runCitygw(['incident', 'list', '--json'], { DATA_DIR: dataDir, DATA_KEY_FILE: keyFile, NATS_URL: '' })
    expect(listed.code, listed.stderr).toBe(0)
    expect((JSON.parse(listed.stdout) as Incident[]).find((i) => i.id === incidentId)).toMatchObject({ ackedBy: CREW })
    const table = await runCitygw(['incident', 'list'], { DATA_DIR: dataDir, DATA_KEY_FILE: keyFile, NATS_URL: '' })
    expect(table.stdout).toContain(`\t${CREW}\t`)

    const withoutKey = await runCitygw(['incident', 'list', '--json'], { DATA_DIR: dataDir, DATA_KEY_FILE: undefined, NATS_URL: '' })
    expect(withoutKey.code).not.toBe(0)
    expect(withoutKey.stderr).toContain('CSG_DATA_KEY_MISSING')
  })

  it('refuses to start without the key that sealed incidents.json', async () => {
    await devices?.close()
    devices = undefined
    await stop(gw)
    gw = undefined
    // alarms.json is set aside so that incidents.json is the only sealed file left to name the key.
    await rename(join(dataDir, 'alarms.json'), join(root, 'alarms.json'))
    const withoutKey = await runCitygw(['start'], { ...env, DATA_KEY_FILE: undefined, MQTT_PORT: '0', HTTP_PORT: '0' })
    await rename(join(root, 'alarms.json'), join(dataDir, 'alarms.json'))
    expect(withoutKey.code).not.toBe(0)
    expect(withoutKey.stderr).toContain('CSG_DATA_KEY_MISSING')
    expect(withoutKey.stderr).toContain(`${firstKeyId} (${join(dataDir, 'incidents.json')})`)
  })

  it('rotate seals incidents.json again with the new key; the gateway reads it back', async () => {
    const rotate = await runCitygw(['key', 'rotate', '--file', keyFile, '--json'], { DATA_DIR: dataDir, NATS_URL: '' })
    expect(rotate.code, rotate.stderr).toBe(0)
    const outcome = JSON.parse(rotate.stdout) as { keyId: string; files: { incidents: number } }
    expect(outcome.files.incidents).toBe(1)
    const text = await readFile(join(dataDir, 'incidents.json'), 'utf8')
    expect(text).toContain(`enc1:${outcome.keyId}:`)
    expect(text).not.toContain(`enc1:${firstKeyId}:`)
    expect(text).not.toContain(CREW)

    gw = await spawnGatewayProcess(env)
    expect((await apiIncidents()).find((i) => i.id === incidentId)).toMatchObject({ state: 'acknowledged', ackedBy: CREW })
  }, 60_000)
})
