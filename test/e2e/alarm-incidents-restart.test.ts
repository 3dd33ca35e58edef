// Incidents survive a restart, through the real gateway and MQTT.js devices and crews: six lamp posts
// of one feeder lose supply → an incident; the gateway stops and starts again on the same DATA_DIR;
// a crew phone subscribing afterwards receives the retained incident (same id, same members), the API
// lists it, acknowledging it acknowledges its members, and clearing the members closes it.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addDevice } from '../../broker/registry/provision.ts'
import { registryPath } from '../../broker/registry/store.ts'
import { basic } from '../helpers/api-client.ts'
import { registerCrew, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, createDevicePublisher, type DevicePublisher } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const LAMPS = Array.from({ length: 6 }, (_, i) => `lp-f7-${i + 1}`)
const DARK = { commandedLevel: 0, supplyVoltage: 0, activePower: 0 }
const LIT = { commandedLevel: 0, supplyVoltage: 231, activePower: 0 }

interface Alarm { id: string; deviceId: string; type: string; state: string; ackedBy?: string; ackNote?: string; incident?: string }
interface Incident { id: string; state: string; members: { deviceId: string; alarmId: string }[]; ackedBy?: string; closedAt?: string }

describe('incidents across a restart', () => {
  let gw: TestGateway | undefined
  let dataDir: string
  let rulesDir: string
  let devices: DevicePublisher | undefined
  let north: Record<string, string>
  let crewSecret: string
  const secrets: Record<string, string> = {}
  const clients: MqttClient[] = []

  async function api<T> (method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${gw!.httpUrl}${path}`, {
      method,
      headers: { ...north, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: res.status, body: await res.json() as T }
  }
  async function supplyAlarms (): Promise<Alarm[]> {
    return (await api<{ alarms: Alarm[] }>('GET', '/api/alarms')).body.alarms.filter((a) => a.type === 'supplyLoss')
  }
  async function start (): Promise<void> {
    gw = await startTestGateway({ dataDir, env: { ALARM_RULES_FILE: join(rulesDir, 'rules.yaml') } })
    devices = createDevicePublisher(() => gw!.mqttUrl, secrets)
  }
  async function stop (): Promise<void> {
    await devices?.close()
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
    await gw?.close()
    gw = undefined
  }
  async function phone (clientId: string): Promise<Awaited<ReturnType<typeof collect>>> {
    const client = await connectClient(gw!.mqttUrl, { clientId, username: 'crew-north', password: crewSecret })
    clients.push(client)
    return collect(client, 'incidents/north/#')
  }

  beforeAll(async () => {
    dataDir = await makeTempDir('csg-incident-restart-')
    rulesDir = await makeTempDir('csg-incident-restart-rules-')
    await writeFile(join(rulesDir, 'rules.yaml'), 'incidents: { minDevices: 3, windowSec: 60 }\n')
    for (const id of LAMPS) secrets[id] = (await addDevice(registryPath(dataDir), { id, kind: 'lamp-post', district: 'north', group: 'feeder-7' })).secret
    crewSecret = (await registerCrew(dataDir, 'crew-north', ['north'])).secret
    north = basic('crew-north', crewSecret)
    await start()
  })
  afterAll(async () => {
    await stop()
    await removeTempDir(dataDir)
    await removeTempDir(rulesDir)
  })

  it('restores the open incident after a restart: retained for a late phone, listed, acknowledged with its members, closed when they clear', async () => {
    for (const id of LAMPS) await devices!.publish(id, DARK)
    await eventually(supplyAlarms, (a) => a.length === 6, { what: '6 supplyLoss alarms' })
    const before = await eventually(async () => (await api<{ incidents: Incident[] }>('GET', '/api/incidents?state=open')).body.incidents, (i) => i[0]?.members.length === 6, { what: 'the incident with 6 members' })
    const incidentId = before[0]!.id

    await stop()
    const saved = JSON.parse(await readFile(join(dataDir, 'incidents.json'), 'utf8')) as { open: { incident: Incident }[] }
    expect(saved.open.map((o) => o.incident.id)).toEqual([incidentId])
    await start()

    // A phone subscribing after the restart gets the incident as a retained message.
    const late = await phone('crew-north-after-restart')
    const got = await late.waitFor(1)
    expect(got[0]!.retain).toBe(true)
    expect(got[0]!.topic).toBe(`incidents/north/${incidentId}`)
    const restored = late.json(0) as unknown as Incident
    expect(restored).toMatchObject({ id: incidentId, state: 'open' })
    expect(new Set(restored.members.map((m) => m.alarmId))).toEqual(new Set(before[0]!.members.map((m) => m.alarmId)))

    // The API lists it; acknowledging it acknowledges every member.
    expect((await api<{ incidents: Incident[] }>('GET', '/api/incidents?state=open')).body.incidents.map((i) => i.id)).toEqual([incidentId])
    const ack = await api<Incident>('POST', `/api/incidents/${incidentId}/ack`, { note: 'after the restart' })
    expect(ack.status).toBe(200)
    expect(ack.body).toMatchObject({ id: incidentId, state: 'acknowledged', ackedBy: 'crew-north' })
    const acked = await eventually(supplyAlarms, (a) => a.filter((x) => x.incident === incidentId).every((x) => x.state === 'acknowledged'), { what: 'the members acknowledged' })
    expect(acked.filter((x) => x.incident === incidentId).length).toBeGreaterThan(0)
    for (const alarm of acked.filter((x) => x.incident === incidentId)) expect(alarm).toMatchObject({ ackedBy: 'crew-north', ackNote: 'after the restart' })

    // Every member clears: the incident closes and its retained message goes.
    for (const id of LAMPS) await devices!.publish(id, LIT)
    await eventually(() => late.messages.map((m) => JSON.parse(m.payload.toString()) as Incident), (m) => m.at(-1)?.state === 'closed', { what: 'the closed incident message' })
    expect(late.messages.at(-1)!.retain).toBe(false)
    const listed = (await api<{ incidents: Incident[] }>('GET', '/api/incidents')).body.incidents
    expect(listed[0]).toMatchObject({ id: incidentId, state: 'closed' })
    const afterClose = await phone('crew-north-after-close')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(afterClose.messages).toEqual([])

    // The closed incident is kept across another restart (the API shows the recently closed ones).
    await stop()
    await start()
    const again = (await api<{ incidents: Incident[] }>('GET', '/api/incidents')).body.incidents
    expect(again.map((i) => [i.id, i.state])).toEqual([[incidentId, 'closed']])
  })
})
