// Alarms shared by the nodes of a cluster: two (then three) alarm stages in one process, each with
// its own NATS connection, recording crews and spool, on a real 3-node nats-server cluster. A
// change is made once (compare-and-set in the alarms bucket), recorded once (one `alarms` point,
// by the node whose change won) and delivered to the crews of every node.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AlarmDevice, AlarmRecord } from '../../broker/alarms/alarm.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { pointsOf, startAlarmNode, topicOf, type AlarmNode } from '../helpers/alarm-node.ts'
import { eventually } from '../helpers/wait.ts'

const devices = new Map<string, AlarmDevice>()
function manhole (id: string): AlarmDevice {
  const device = { id, kind: 'manhole', district: 'north' }
  devices.set(id, device)
  return device
}

/** Long enough for a stray duplicate to have arrived over loopback. */
const SETTLE_MS = 300

let cluster: NatsCluster | undefined
const nodes: AlarmNode[] = []
let a: AlarmNode
let b: AlarmNode

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  a = await startAlarmNode('gw-a', { urls: cluster.urls, devices })
  b = await startAlarmNode('gw-b', { urls: cluster.urls, devices })
  nodes.push(a, b)
})
afterAll(async () => {
  for (const node of nodes.reverse()) await node.close()
  await cluster?.close()
})

function statesDelivered (node: AlarmNode, deviceId: string, type = 'coverOpen'): string[] {
  return node.delivered.filter((d) => d.alarm.deviceId === deviceId && d.alarm.type === type).map((d) => d.alarm.state)
}

function openOn (node: AlarmNode, deviceId: string, type = 'coverOpen'): AlarmRecord | undefined {
  return node.alarms.list().find((alarm) => alarm.deviceId === deviceId && alarm.type === type && alarm.state !== 'cleared')
}

/** The alarm once both nodes list it alike (a node lists its own raise at once, before its compare-and-set settled). */
async function openOnBoth (deviceId: string): Promise<AlarmRecord> {
  const [onA] = await eventually(() => [openOn(a, deviceId), openOn(b, deviceId)], ([x, y]) => x !== undefined && y !== undefined && x.id === y.id && x.state === y.state,
    { what: `${deviceId} open alike on both nodes`, timeoutMs: 5000, intervalMs: 20 })
  return onA!
}

describe('alarms in a cluster', () => {
  it('a cover lifted at one node is raised once, delivered and retained on both, recorded once', async () => {
    const device = manhole('mh-lift')
    a.reading(device, { coverAngle: 120 })
    const alarm = await openOnBoth(device.id)
    await eventually(() => [statesDelivered(a, device.id), statesDelivered(b, device.id)], ([x, y]) => x?.length === 1 && y?.length === 1,
      { what: 'delivered on both', timeoutMs: 5000, intervalMs: 20 })
    await sleep(SETTLE_MS)
    expect(statesDelivered(a, device.id)).toEqual(['active'])
    expect(statesDelivered(b, device.id)).toEqual(['active'])
    expect(a.retained.get(topicOf(alarm))).toMatchObject({ id: alarm.id, state: 'active', severity: 'critical' })
    expect(b.retained.get(topicOf(alarm))).toMatchObject({ id: alarm.id, state: 'active', severity: 'critical' })
    expect(pointsOf(a.points, device.id)).toEqual(['coverOpen:active'])
    expect(pointsOf(b.points, device.id)).toEqual([])
  })

  it('a crew at the other node acknowledges over MQTT or the API; both nodes deliver who did', async () => {
    const overMqtt = manhole('mh-ack-mqtt')
    const overApi = manhole('mh-ack-api')
    a.reading(overMqtt, { coverAngle: 120 })
    a.reading(overApi, { coverAngle: 120 })
    const first = await openOnBoth(overMqtt.id)
    const second = await openOnBoth(overApi.id)

    b.ackOverMqtt('crew-b', first, 'on our way')
    const outcome = await b.alarms.acknowledgeById('crew-c', ['north'], second.id, undefined)
    expect(outcome).toMatchObject({ ok: true, alarm: { id: second.id, state: 'acknowledged', ackedBy: 'crew-c' } })
    expect(await b.alarms.acknowledgeById('crew-d', ['south'], first.id, undefined)).toEqual({ ok: false, reason: 'forbidden' })

    for (const node of [a, b]) {
      await eventually(() => [node.retained.get(topicOf(first)), node.retained.get(topicOf(second))], ([x, y]) => x?.state === 'acknowledged' && y?.state === 'acknowledged',
        { what: `acknowledged on ${node.name}`, timeoutMs: 5000, intervalMs: 20 })
      expect(openOn(node, overMqtt.id)).toMatchObject({ state: 'acknowledged', ackedBy: 'crew-b' })
      expect(statesDelivered(node, overMqtt.id)).toEqual(['active', 'acknowledged'])
      expect(node.retained.get(topicOf(first))).toMatchObject({ state: 'acknowledged', ackedBy: 'crew-b', ackNote: 'on our way' })
      expect(node.retained.get(topicOf(second))).toMatchObject({ state: 'acknowledged', ackedBy: 'crew-c' })
    }
    await sleep(SETTLE_MS)
    for (const id of [overMqtt.id, overApi.id]) {
      expect(pointsOf(a.points, id)).toEqual(['coverOpen:active'])
      expect(pointsOf(b.points, id)).toEqual(['coverOpen:acknowledged'])
    }
  })

  it('two acknowledgements at once at two nodes: one wins, the other is told it was already acknowledged', async () => {
    // Ten races: one would pass by luck on a server that accepted both writes.
    const raced = Array.from({ length: 10 }, (_, i) => manhole(`mh-race-${i}`))
    for (const device of raced) a.reading(device, { coverAngle: 120 })
    for (const device of raced) {
      const alarm = await openOnBoth(device.id)
      const outcomes = await Promise.all([
        a.alarms.acknowledgeById('crew-a', undefined, alarm.id, 'a first'),
        b.alarms.acknowledgeById('crew-b', undefined, alarm.id, 'b first'),
      ])
      const won = outcomes.filter((o) => o.ok)
      expect(won).toHaveLength(1)
      expect(outcomes.filter((o) => !o.ok)).toEqual([{ ok: false, reason: 'already_acknowledged' }])
      const winner = won[0]!.ok ? won[0]!.alarm.ackedBy : undefined
      for (const node of [a, b]) {
        // Listed as soon as the node knows; its crews get it once the change went through its publisher.
        await eventually(() => [openOn(node, device.id), node.retained.get(topicOf(alarm))], ([listed, retained]) => listed?.ackedBy === winner && retained?.ackedBy === winner,
          { what: `acknowledged by ${winner} on ${node.name}`, timeoutMs: 5000, intervalMs: 20 })
        expect(openOn(node, device.id)).toMatchObject({ state: 'acknowledged', ackNote: winner === 'crew-a' ? 'a first' : 'b first' })
        expect(node.retained.get(topicOf(alarm))).toMatchObject({ state: 'acknowledged', ackNote: winner === 'crew-a' ? 'a first' : 'b first' })
      }
    }
    await sleep(SETTLE_MS)
    for (const device of raced) {
      expect([...pointsOf(a.points, device.id), ...pointsOf(b.points, device.id)].sort()).toEqual(['coverOpen:acknowledged', 'coverOpen:active'])
      expect(statesDelivered(a, device.id)).toEqual(['active', 'acknowledged'])
      expect(statesDelivered(b, device.id)).toEqual(['active', 'acknowledged'])
    }
  })

  it('a clear at one node is delivered on both and the retained alarm removed on both', async () => {
    const device = manhole('mh-clear')
    const t0 = Date.now()
    a.reading(device, { coverAngle: 120 }, t0)
    const alarm = await openOnBoth(device.id)
    a.reading(device, { coverAngle: 2 }, t0 + 1000)
    a.reading(device, { coverAngle: 2 }, t0 + 62_000) // closed for the rule's 60 s, on reading time
    for (const node of [a, b]) {
      await eventually(() => statesDelivered(node, device.id), (states) => states.includes('cleared'), { what: `cleared on ${node.name}`, timeoutMs: 5000, intervalMs: 20 })
      expect(node.retained.has(topicOf(alarm))).toBe(false)
      expect(openOn(node, device.id)).toBeUndefined()
      expect(node.alarms.list().find((x) => x.id === alarm.id)).toMatchObject({ state: 'cleared' })
    }
    await sleep(SETTLE_MS)
    expect(statesDelivered(a, device.id)).toEqual(['active', 'cleared'])
    expect(statesDelivered(b, device.id)).toEqual(['active', 'cleared'])
    expect(pointsOf(a.points, device.id)).toEqual(['coverOpen:active', 'coverOpen:cleared'])
    expect(pointsOf(b.points, device.id)).toEqual([])
    expect(await a.alarms.acknowledgeById('crew-a', undefined, alarm.id, undefined)).toEqual({ ok: false, reason: 'not_found' })
  })

  it('readings of one device at both nodes at once (it moved) still open one alarm, recorded once', async () => {
    const moved = Array.from({ length: 10 }, (_, i) => manhole(`mh-moved-${i}`))
    const t0 = Date.now()
    for (const device of moved) {
      a.reading(device, { coverAngle: 120 }, t0)
      b.reading(device, { coverAngle: 120 }, t0)
    }
    for (const device of moved) await openOnBoth(device.id)
    await sleep(SETTLE_MS)
    for (const device of moved) {
      for (const node of [a, b]) {
        expect(node.alarms.list().filter((x) => x.deviceId === device.id)).toHaveLength(1)
        expect(statesDelivered(node, device.id)).toEqual(['active'])
      }
      expect([...pointsOf(a.points, device.id), ...pointsOf(b.points, device.id)]).toEqual(['coverOpen:active'])
    }
  })

  it('rule progress stays with the node that got the readings: a held condition starts over after a move', async () => {
    const device = manhole('mh-held')
    const t0 = Date.now()
    a.reading(device, { coverAngle: 20 }, t0) // above 10°, must hold 10 s
    b.reading(device, { coverAngle: 20 }, t0 + 10_000) // held 10 s, but B saw only this reading
    await sleep(SETTLE_MS)
    expect(openOn(a, device.id)).toBeUndefined()
    expect(openOn(b, device.id)).toBeUndefined()
    b.reading(device, { coverAngle: 20 }, t0 + 20_000) // held 10 s on B
    const alarm = await openOnBoth(device.id)
    expect(alarm).toMatchObject({ state: 'active', raisedAt: new Date(t0 + 20_000).toISOString() })
    expect(pointsOf(b.points, device.id)).toEqual(['coverOpen:active'])
  })

  it('a node started later restores the open alarms from the bucket as retained, and takes part', async () => {
    if (cluster === undefined) throw new Error('cluster not started')
    const c = await startAlarmNode('gw-c', { urls: cluster.urls, devices })
    nodes.push(c)
    const openOnA = [...a.retained.entries()].map(([topic, alarm]) => `${topic} ${alarm.id} ${alarm.state}`).sort()
    expect(openOnA.length).toBeGreaterThanOrEqual(20)
    expect([...c.retained.entries()].map(([topic, alarm]) => `${topic} ${alarm.id} ${alarm.state}`).sort()).toEqual(openOnA)
    expect(c.delivered.every((d) => d.retain)).toBe(true)
    expect(c.points).toEqual([])
    // Recently cleared alarms came along for the console.
    expect(c.alarms.list().find((x) => x.deviceId === 'mh-clear')).toMatchObject({ state: 'cleared' })

    // Its crews acknowledge like any other node's; all three nodes deliver it.
    const lifted = openOn(c, 'mh-lift')
    expect(lifted?.state).toBe('active')
    expect(await c.alarms.acknowledgeById('crew-c', ['north'], lifted!.id, undefined)).toMatchObject({ ok: true })
    for (const node of [a, b, c]) {
      await eventually(() => node.retained.get(topicOf(lifted!)), (x) => x?.state === 'acknowledged', { what: `acknowledged on ${node.name}`, timeoutMs: 5000, intervalMs: 20 })
    }
    expect(pointsOf(c.points, 'mh-lift')).toEqual(['coverOpen:acknowledged'])
  })
})
