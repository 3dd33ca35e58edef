// `citygw incident list|ack` through the real CLI against a real gateway on the same DATA_DIR, with
// MQTT.js lamp posts and a crew phone: four lamp posts of one feeder lose supply → the incident is
// listed (table and JSON, filtered by district and --open); `ack` acknowledges it and its members
// (ackedBy `cli`, with the note) and crews get the acknowledged incident; unknown and closed ids are
// refused like the API's 404 and 409; without a running gateway `ack` says so.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { runCitygw, type CitygwResult } from '../helpers/citygw.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, createDevicePublisher, type DevicePublisher } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const LAMPS = Array.from({ length: 4 }, (_, i) => `lp-f3-${i + 1}`)
const DARK = { commandedLevel: 0, supplyVoltage: 0, activePower: 0 }
const LIT = { commandedLevel: 0, supplyVoltage: 231, activePower: 0 }

interface Alarm { id: string; type: string; state: string; ackedBy?: string; ackNote?: string; incident?: string }
interface Incident { id: string; state: string; district: string; group: string; members: unknown[]; ackedBy?: string }

describe('citygw incident', () => {
  let gw: TestGateway
  let rulesDir: string
  let devices: DevicePublisher
  let phone: MqttClient
  let seen: Awaited<ReturnType<typeof collect>>
  let north: Record<string, string>
  const secrets: Record<string, string> = {}

  const citygw = (...args: string[]): Promise<CitygwResult> => runCitygw(args, { DATA_DIR: gw.dataDir, NATS_URL: '' })
  async function supplyAlarms (): Promise<Alarm[]> {
    const res = await fetch(`${gw.httpUrl}/api/alarms`, { headers: north })
    return ((await res.json()) as { alarms: Alarm[] }).alarms.filter((a) => a.type === 'supplyLoss')
  }
  async function listed (...args: string[]): Promise<Incident[]> {
    const result = await citygw('incident', 'list', '--json', ...args)
    expect(result.code, result.stderr).toBe(0)
    return JSON.parse(result.stdout) as Incident[]
  }

  beforeAll(async () => {
    rulesDir = await makeTempDir('csg-cli-incidents-')
    await writeFile(join(rulesDir, 'rules.yaml'), 'incidents: { minDevices: 2, windowSec: 60 }\n')
    gw = await startTestGateway({ env: { ALARM_RULES_FILE: join(rulesDir, 'rules.yaml') } })
    for (const id of LAMPS) secrets[id] = (await addDevice(registryPath(gw.dataDir), { id, kind: 'lamp-post', district: 'north', group: 'feeder-3' })).secret
    const crew = await registerCrew(gw.dataDir, 'crew-north', ['north'])
    north = basic('crew-north', crew.secret)
    await gw.gateway.reloadRegistry()
    devices = createDevicePublisher(() => gw.mqttUrl, secrets)
    phone = await connectClient(gw.mqttUrl, { clientId: 'crew-north-phone', username: 'crew-north', password: crew.secret })
    seen = await collect(phone, 'incidents/north/#')
  })
  afterAll(async () => {
    await devices?.close()
    await phone?.endAsync(true)
    await gw?.close(true)
    if (rulesDir !== undefined) await removeTempDir(rulesDir)
  })

  it('lists incidents, acknowledges one with its members, refuses unknown and closed ones', async () => {
    expect(await listed()).toEqual([])
    for (const id of LAMPS) await devices.publish(id, DARK)
    const open = await eventually(() => listed('--open'), (i) => i[0]?.members.length === 4, { what: 'the incident with its 4 members in incidents.json' })
    const incidentId = open[0]!.id
    expect(open[0]).toMatchObject({ state: 'open', district: 'north', group: 'feeder-3' })
    expect(await listed('--district', 'south')).toEqual([])
    expect((await listed('--district', 'north')).map((i) => i.id)).toEqual([incidentId])
    const table = await citygw('incident', 'list')
    expect(table.stdout.split('\n')[0]).toBe('id\tstate\ttype\tgroup\tdistrict\tseverity\tmembers\topened\tacknowledged by\tclosed')
    expect(table.stdout).toContain(`${incidentId}\topen\tsupplyLoss\tfeeder-3\tnorth\tmajor\t4\t`)

    const unknown = await citygw('incident', 'ack', '00000000-0000-0000-0000-000000000000')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no incident 00000000-0000-0000-0000-000000000000')

    const ack = await citygw('incident', 'ack', incidentId, '--note', 'feeder 3 tripped', '--json')
    expect(ack.code, ack.stderr).toBe(0)
    expect(JSON.parse(ack.stdout)).toMatchObject({ id: incidentId, state: 'acknowledged', ackedBy: 'cli' })
    const members = (await supplyAlarms()).filter((a) => a.incident === incidentId)
    expect(members.length).toBeGreaterThan(0)
    for (const alarm of members) expect(alarm).toMatchObject({ state: 'acknowledged', ackedBy: 'cli', ackNote: 'feeder 3 tripped' })
    await eventually(() => seen.messages.map((m) => JSON.parse(m.payload.toString()) as Incident), (m) => m.at(-1)?.state === 'acknowledged', { what: 'the acknowledged incident on MQTT' })
    // The request is gone once answered.
    await eventually(() => readFile(join(gw.dataDir, 'incident-acks.json'), 'utf8'), (text) => (JSON.parse(text) as { requests: unknown[] }).requests.length === 0, { what: 'no request left' })

    for (const id of LAMPS) await devices.publish(id, LIT)
    await eventually(() => listed(), (i) => i[0]?.state === 'closed', { what: 'the closed incident in incidents.json' })
    expect(await listed('--open')).toEqual([])
    const closed = await citygw('incident', 'ack', incidentId)
    expect(closed.code).toBe(1)
    expect(closed.stderr).toContain(`incident ${incidentId} is already closed`)
  }, 60_000)

  it('says so when no gateway runs on DATA_DIR', async () => {
    for (const id of LAMPS) await devices.publish(id, DARK)
    const open = await eventually(() => listed('--open'), (i) => i.length === 1, { what: 'a second incident' })
    await devices.close()
    await phone.endAsync(true)
    await gw.gateway.close()
    const result = await citygw('incident', 'ack', open[0]!.id)
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('no gateway is running')
  }, 60_000)
})
