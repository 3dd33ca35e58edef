// Incidents and flapping across the nodes of a cluster: two alarm stages in one process on a real
// 3-node nats-server cluster, each with its own recording crews and spool. 20 lamp posts of one
// feeder, half reporting to each node, lose supply within a minute → one incident (one id, made
// once by compare-and-set in csg-incidents) reaches the crews of both nodes, with all 20 member
// alarms, each recorded once; acknowledged at one node it acknowledges every member; when the
// members clear it closes on both. A door switch that flaps three times at one node and twice more
// after moving to the other is kept open as flapping there.
import { writeFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AlarmDevice } from '../../broker/alarms/alarm.ts'
import type { Incident } from '../../broker/alarms/incident-record.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { pointsOf, startAlarmNode, type AlarmNode } from '../helpers/alarm-node.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const devices = new Map<string, AlarmDevice>()
const LAMPS = Array.from({ length: 20 }, (_, i) => `lp-f12-${String(i + 1).padStart(2, '0')}`)
for (const id of [...LAMPS, 'lp-flap']) devices.set(id, { id, kind: 'lamp-post', district: 'north' })
const groups = {
  groupOf (deviceId: string) { return deviceId.startsWith('lp-f12-') ? 'feeder-12' : undefined },
  groupSize (group: string) { return group === 'feeder-12' ? LAMPS.length : 0 },
}
const DARK = { commandedLevel: 0, supplyVoltage: 0, activePower: 0 }
const LIT = { commandedLevel: 0, supplyVoltage: 231, activePower: 0 }

let cluster: NatsCluster | undefined
let rulesDir: string
let a: AlarmNode
let b: AlarmNode

/** The incident messages a node published to its crews. */
function incidentsOn (node: AlarmNode): Incident[] {
  return node.delivered.filter((d) => d.topic.startsWith('incidents/')).map((d) => d.alarm as unknown as Incident)
}

beforeAll(async () => {
  rulesDir = await makeTempDir('csg-cluster-incidents-')
  const rulesFile = join(rulesDir, 'rules.yaml')
  await writeFile(rulesFile, 'incidents: { minDevices: 5, windowSec: 60 }\nflapping: { raises: 4, withinSec: 600 }\n')
  cluster = await startNatsCluster({ nodes: 3 })
  a = await startAlarmNode('gw-a', { urls: cluster.urls, devices, groups, rulesFile })
  b = await startAlarmNode('gw-b', { urls: cluster.urls, devices, groups, rulesFile })
}, 60_000)
afterAll(async () => {
  await b?.close()
  await a?.close()
  await cluster?.close()
  if (rulesDir !== undefined) await removeTempDir(rulesDir)
})

describe('incidents and flapping in a cluster', () => {
  it('20 lamp posts of one feeder over two nodes → one incident on both nodes, 20 member alarms recorded once each', async () => {
    // Within a minute, not within a millisecond: one every 50 ms, alternating between the nodes.
    for (const [i, id] of LAMPS.entries()) {
      (i % 2 === 0 ? a : b).reading(devices.get(id)!, DARK)
      await sleep(50)
    }
    const supply = (node: AlarmNode) => node.alarms.list().filter((x) => x.type === 'supplyLoss' && x.state !== 'cleared')
    await eventually(() => [supply(a).length, supply(b).length], ([x, y]) => x === 20 && y === 20, { what: '20 supplyLoss alarms on both nodes', timeoutMs: 10_000 })
    const [onA, onB] = await eventually(() => [incidentsOn(a), incidentsOn(b)], ([x, y]) => x.at(-1)?.members.length === 20 && y.at(-1)?.members.length === 20,
      { what: 'the incident with 20 members on both nodes', timeoutMs: 15_000 })
    // One incident, made once: every message on both nodes is of the same id.
    const ids = new Set([...onA, ...onB].map((i) => i.id))
    expect(ids.size).toBe(1)
    const incidentId = [...ids][0]!
    expect(onA.at(-1)).toMatchObject({ type: 'supplyLoss', group: 'feeder-12', district: 'north', state: 'open' })
    expect(onA.length).toBeLessThanOrEqual(4)
    expect(a.alarms.incidents?.list().map((i) => i.id)).toEqual([incidentId])
    expect(b.alarms.incidents?.list().map((i) => i.id)).toEqual([incidentId])
    // The members are the 20 alarms, each raise recorded once in the cluster.
    expect(new Set(onB.at(-1)!.members.map((m) => m.alarmId))).toEqual(new Set(supply(a).map((x) => x.id)))
    for (const id of LAMPS) expect([...pointsOf(a.points, id), ...pointsOf(b.points, id)]).toEqual(['supplyLoss:active'])
    // Only the raises before the incident reached crews on their own (the same on both nodes).
    const singles = (node: AlarmNode) => new Set(node.delivered.filter((d) => d.topic.startsWith('alarms/') && d.alarm.type === 'supplyLoss').map((d) => d.alarm.deviceId))
    expect(singles(a).size).toBeLessThan(10)
    expect(singles(b)).toEqual(singles(a))
  }, 60_000)

  it('acknowledged at one node, every member is acknowledged; the members clear and it closes on both nodes', async () => {
    const incidentId = b.alarms.incidents!.list()[0]!.id
    const outcome = await b.alarms.incidents!.acknowledge('crew-b', ['north'], incidentId, 'feeder 12', Date.now())
    expect(outcome).toMatchObject({ ok: true, incident: { id: incidentId, state: 'acknowledged', ackedBy: 'crew-b' } })
    await eventually(() => a.alarms.list().filter((x) => x.type === 'supplyLoss'), (xs) => xs.length === 20 && xs.every((x) => x.state === 'acknowledged' && x.ackedBy === 'crew-b'),
      { what: 'every member acknowledged, seen at the other node', timeoutMs: 10_000 })
    await eventually(() => incidentsOn(a).at(-1)?.state, (s) => s === 'acknowledged', { what: 'the acknowledged incident at the other node', timeoutMs: 10_000 })

    LAMPS.forEach((id, i) => { (i % 2 === 0 ? a : b).reading(devices.get(id)!, LIT) })
    for (const node of [a, b]) {
      await eventually(() => incidentsOn(node).at(-1), (i) => i?.state === 'closed', { what: `the closed incident at ${node.name}`, timeoutMs: 10_000 })
      expect([...node.retained.keys()].filter((t) => t.startsWith('incidents/'))).toEqual([])
      expect(node.alarms.incidents!.list()[0]).toMatchObject({ id: incidentId, state: 'closed' })
    }
  }, 60_000)

  it('keeps flapping when the device moves to the other node: its raises there count with those at the first', async () => {
    const door = devices.get('lp-flap')!
    let tsMs = Date.now() - 60_000
    const cycle = (node: AlarmNode) => {
      node.reading(door, { ...LIT, doorOpen: true }, tsMs += 1000)
      node.reading(door, { ...LIT, doorOpen: false }, tsMs += 1000)
    }
    const cleared = (node: AlarmNode) => node.delivered.filter((d) => d.alarm.deviceId === 'lp-flap' && d.alarm.state === 'cleared').length
    for (let i = 0; i < 3; i++) {
      cycle(a)
      // Each change settles in the bucket before the next (as readings seconds apart would).
      await eventually(() => cleared(b), (n) => n === i + 1, { what: `clear ${i + 1} seen at gw-b`, timeoutMs: 10_000 })
    }
    // Two more raises at gw-b: five in the window, more than four.
    b.reading(door, { ...LIT, doorOpen: true }, tsMs += 1000)
    await eventually(() => a.alarms.list().find((x) => x.deviceId === 'lp-flap' && x.state === 'active'), (x) => x !== undefined, { what: 'raise 4', timeoutMs: 10_000 })
    b.reading(door, { ...LIT, doorOpen: false }, tsMs += 1000)
    await eventually(() => cleared(a), (n) => n === 4, { what: 'clear 4 seen at gw-a', timeoutMs: 10_000 })
    b.reading(door, { ...LIT, doorOpen: true }, tsMs += 1000)
    await eventually(() => a.alarms.list().find((x) => x.deviceId === 'lp-flap' && x.state === 'active'), (x) => x !== undefined, { what: 'raise 5', timeoutMs: 10_000 })
    b.reading(door, { ...LIT, doorOpen: false }, tsMs += 1000)
    const kept = await eventually(() => a.alarms.list().find((x) => x.deviceId === 'lp-flap' && x.state !== 'cleared'), (x) => x?.flapping === true,
      { what: 'kept open as flapping, seen at gw-a', timeoutMs: 10_000 })
    expect(kept).toMatchObject({ type: 'doorOpen', state: 'active', flapping: true })
    expect(cleared(a)).toBe(4)
    expect(pointsOf(b.points, 'lp-flap').filter((p) => p === 'doorOpen:active').length).toBeGreaterThanOrEqual(2)
  }, 60_000)
})
