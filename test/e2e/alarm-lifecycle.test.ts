// The alarm lifecycle with real crews and devices: acknowledge (only by the right crew, ackedBy
// never from the payload), retained messages for late subscribers, a restart that neither loses
// nor re-raises open alarms, deviceOffline, rules-file overrides picked up while running, webhooks.
import { createServer, type IncomingMessage } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { registerCrew, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const clients: MqttClient[] = []
afterAll(async () => { await Promise.all(clients.map((c) => c.endAsync(true))) })

async function crewClient (gw: TestGateway, name: string, secret: string, phone: string): Promise<MqttClient> {
  const client = await connectClient(gw.mqttUrl, { clientId: phone, username: name, password: secret })
  clients.push(client)
  return client
}

async function device (gw: TestGateway, id: string, secret: string): Promise<MqttClient> {
  const client = await connectDevice(gw.mqttUrl, id, secret)
  clients.push(client)
  return client
}

function closedPromise (client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()))
}

type Alarm = Record<string, unknown>
const json = (payload: Buffer): Alarm => JSON.parse(payload.toString()) as Alarm

describe('acknowledge, retain, restart', () => {
  let dataDir: string
  let gw: TestGateway
  let secrets: Record<string, string>
  const topic = 'alarms/north/manhole/mh-1/coverOpen'

  beforeAll(async () => {
    dataDir = await makeTempDir('citygw-alarms-')
    gw = await startTestGateway({ dataDir })
    secrets = {
      device: (await registerDevice(dataDir, 'mh-1', 'manhole', 'north')).secret,
      north: (await registerCrew(dataDir, 'crew-north', ['north'])).secret,
      south: (await registerCrew(dataDir, 'crew-south', ['south'])).secret,
    }
    await gw.gateway.reloadRegistry()
  })
  afterAll(async () => {
    await gw?.close()
    await removeTempDir(dataDir)
  })

  it('delivers a raised alarm within the publish round trip and keeps it retained', async () => {
    const watcher = await crewClient(gw, 'crew-north', secrets.north!, 'phone-a')
    const live = await collect(watcher, 'alarms/north/#')
    const mh = await device(gw, 'mh-1', secrets.device!)
    await mh.publishAsync('devices/mh-1/telemetry', JSON.stringify({ coverAngle: 120 }), { qos: 1 })
    await live.waitFor(1)
    expect(live.messages[0]!.topic).toBe(topic)
    expect(live.json(0)).toMatchObject({ type: 'coverOpen', state: 'active', severity: 'critical', deviceId: 'mh-1', kind: 'manhole', district: 'north', threshold: 90, value: 120 })

    const late = await crewClient(gw, 'crew-north', secrets.north!, 'phone-b')
    const retained = await collect(late, 'alarms/north/#')
    await retained.waitFor(1)
    expect(retained.messages[0]!.retain).toBe(true)
    expect(retained.json(0).id).toBe(live.json(0).id)
  })

  it('refuses acknowledgements from another district\'s crew and from devices', async () => {
    const south = await crewClient(gw, 'crew-south', secrets.south!, 'phone-s')
    const closed = closedPromise(south)
    south.publish(`${topic}/ack`, '{}', { qos: 1 })
    await closed
    // Naming its own district in the topic does not reach the north alarm either.
    const south2 = await crewClient(gw, 'crew-south', secrets.south!, 'phone-s2')
    await south2.publishAsync('alarms/south/manhole/mh-1/coverOpen/ack', '{"note":"sneaky"}', { qos: 1 })

    const mh = clients.find((c) => c.options.clientId === 'mh-1')!
    const deviceClosed = closedPromise(mh)
    mh.publish(`${topic}/ack`, '{}', { qos: 1 })
    await deviceClosed

    const check = await crewClient(gw, 'crew-north', secrets.north!, 'phone-c')
    const retained = await collect(check, topic)
    await retained.waitFor(1)
    expect(retained.json(0).state).toBe('active')
  })

  it('acknowledges for the authenticated crew, whatever the payload claims', async () => {
    const north = await crewClient(gw, 'crew-north', secrets.north!, 'phone-d')
    const live = await collect(north, topic)
    await live.waitFor(1) // the retained active alarm
    await north.publishAsync(`${topic}/ack`, JSON.stringify({ note: 'on my way', ackedBy: 'mallory' }), { qos: 1 })
    await live.waitFor(2)
    expect(live.json(1)).toMatchObject({ state: 'acknowledged', ackedBy: 'crew-north', ackNote: 'on my way', id: live.json(0).id })
    // A second acknowledgement changes nothing.
    await north.publishAsync(`${topic}/ack`, '{}', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(live.messages).toHaveLength(2)
  })

  it('survives a restart: the alarm stays open with its id, is retained again and not re-raised', async () => {
    const before = await crewClient(gw, 'crew-north', secrets.north!, 'phone-e')
    const first = await collect(before, topic)
    await first.waitFor(1)
    const id = first.json(0).id
    await gw.close()

    gw = await startTestGateway({ dataDir })
    const after = await crewClient(gw, 'crew-north', secrets.north!, 'phone-f')
    const retained = await collect(after, 'alarms/north/#')
    await retained.waitFor(1)
    expect(retained.json(0)).toMatchObject({ id, state: 'acknowledged', ackedBy: 'crew-north' })

    const mh = await device(gw, 'mh-1', secrets.device!)
    await mh.publishAsync('devices/mh-1/telemetry', JSON.stringify({ coverAngle: 130 }), { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(retained.messages).toHaveLength(1) // still open: nothing raised again

    // The cover settles for 60 s of reading time (ts ahead of the previous reading's time of receipt).
    const settled = Date.now() + 1000
    await mh.publishAsync('devices/mh-1/telemetry', JSON.stringify([{ coverAngle: 2, ts: settled }, { coverAngle: 2, ts: settled + 60_000 }]), { qos: 1 })
    await retained.waitFor(2)
    expect(retained.json(1)).toMatchObject({ id, state: 'cleared', clearedAt: new Date(settled + 60_000).toISOString() })
    expect(retained.messages[1]!.retain).toBe(false)

    // Cleared: nothing retained for a newcomer.
    const newcomer = await crewClient(gw, 'crew-north', secrets.north!, 'phone-g')
    const nothing = await collect(newcomer, 'alarms/north/#')
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(nothing.messages).toEqual([])
  })
})

describe('deviceOffline, rules file and webhooks', () => {
  let dataDir: string
  let gw: TestGateway
  let rulesFile: string
  let crew: MqttClient
  let alarms: Awaited<ReturnType<typeof collect>>
  const hooks: unknown[] = []
  const hookServer = createServer((req: IncomingMessage, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => { body += chunk.toString() })
    req.on('end', () => {
      hooks.push(JSON.parse(body))
      res.writeHead(204).end()
    })
  })

  beforeAll(async () => {
    dataDir = await makeTempDir('citygw-rules-')
    rulesFile = join(dataDir, 'rules.yaml')
    await writeFile(rulesFile, [
      'kinds:',
      '  manhole:',
      '    offline: { expectedIntervalSec: 1, missedIntervals: 2 }',
      '  lamp-post:',
      '    rules:',
      '      overVoltage: { minor: 240, clear: 235, forSec: 0 }',
      '      dayBurner: { enabled: false }',
      'devices:',
      '  lp-strict:',
      '    rules:',
      '      overVoltage: { minor: 232 }',
    ].join('\n'))
    await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve))
    const port = (hookServer.address() as { port: number }).port
    gw = await startTestGateway({ dataDir, env: { ALARM_RULES_FILE: rulesFile, ALARM_OFFLINE_CHECK_MS: '100', ALARM_WEBHOOK_URLS: `http://127.0.0.1:${port}/alarms` } })
    const { secret } = await registerCrew(dataDir, 'crew-x')
    await gw.gateway.reloadRegistry()
    crew = await crewClient(gw, 'crew-x', secret, 'phone-x')
    alarms = await collect(crew, 'alarms/#')
  })
  afterAll(async () => {
    await gw?.close()
    await new Promise((resolve) => hookServer.close(resolve))
    await removeTempDir(dataDir)
  })

  function of (id: string): Alarm[] {
    return alarms.messages.filter((m) => m.topic.includes(`/${id}/`)).map((m) => json(m.payload))
  }

  it('raises deviceOffline after the configured silence and clears it on the next reading', async () => {
    const { secret } = await registerDevice(dataDir, 'mh-quiet', 'manhole', 'east')
    await gw.gateway.reloadRegistry()
    const mh = await device(gw, 'mh-quiet', secret)
    await mh.publishAsync('devices/mh-quiet/telemetry', '{"coverAngle": 1}', { qos: 1 })
    const raised = await eventually(() => of('mh-quiet'), (a) => a.length === 1, { timeoutMs: 6000, what: 'deviceOffline' })
    expect(raised[0]).toMatchObject({ type: 'deviceOffline', state: 'active', threshold: 2 })
    await mh.publishAsync('devices/mh-quiet/telemetry', '{"coverAngle": 1}', { qos: 1 })
    const cleared = await eventually(() => of('mh-quiet'), (a) => a.length === 2)
    expect(cleared[1]).toMatchObject({ type: 'deviceOffline', state: 'cleared', id: raised[0]!.id })
    await mh.endAsync()
  })

  it('applies kind and device overrides, and switched-off rules stay silent', async () => {
    const lp = await registerDevice(dataDir, 'lp-normal', 'lamp-post', 'east')
    const strict = await registerDevice(dataDir, 'lp-strict', 'lamp-post', 'east')
    await gw.gateway.reloadRegistry()
    const a = await device(gw, 'lp-normal', lp.secret)
    const b = await device(gw, 'lp-strict', strict.secret)
    const reading = { commandedLevel: 80, supplyVoltage: 236, activePower: 40, ambientLux: 5000 }
    const ts = Date.now() - 3600_000
    await a.publishAsync('devices/lp-normal/telemetry', JSON.stringify([{ ...reading, ts }, { ...reading, ts: ts + 700_000 }]), { qos: 1 })
    await b.publishAsync('devices/lp-strict/telemetry', JSON.stringify([{ ...reading, ts }, { ...reading, ts: ts + 700_000 }]), { qos: 1 })
    await eventually(() => of('lp-strict'), (x) => x.length === 1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(of('lp-normal')).toEqual([]) // 236 V < 240 V, and no dayBurner although burning at 5000 lx
    expect(of('lp-strict')[0]).toMatchObject({ type: 'overVoltage', threshold: 232 })
  })

  it('picks up a changed rules file without restart, and keeps the old rules when the new file is bad', async () => {
    await writeFile(rulesFile, 'kinds:\n  lamp-post:\n    rules:\n      overVoltage: { minor: 300 }\n      dayBurner: { enabled: false }\n')
    await eventually(() => gw.logs().filter((l) => l.msg === 'alarm rules reloaded').length, (n) => n >= 1, { what: 'rules reload' })
    // lp-strict's alarm belonged to a device override that is gone: its threshold is 300 V now.
    const b = clients.find((c) => c.options.clientId === 'lp-strict')!
    await b.publishAsync('devices/lp-strict/telemetry', JSON.stringify({ commandedLevel: 80, supplyVoltage: 236, activePower: 40 }), { qos: 1 })
    await eventually(() => of('lp-strict'), (x) => x.length === 2)
    expect(of('lp-strict')[1]).toMatchObject({ state: 'cleared' })

    await writeFile(rulesFile, 'kinds:\n  lamp-post:\n    rules:\n      overVoltage: { minr: 100 }\n')
    const refused = await eventually(() => gw.logs().filter((l) => l.msg === 'alarm rules file refused; keeping the rules in force'), (l) => l.length >= 1, { what: 'refusal log' })
    expect(JSON.stringify(refused[0])).toMatch(/overVoltage\.minr/)
  })

  it('POSTs every change to the webhook', async () => {
    await eventually(() => hooks.length, (n) => n >= 4, { what: 'webhook calls' })
    expect(hooks[0]).toMatchObject({ change: 'raised', alarm: { type: 'deviceOffline', deviceId: 'mh-quiet' } })
  })
})
