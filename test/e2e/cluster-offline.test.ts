// deviceOffline in a cluster: one node at a time (the lease holder) checks for silent devices,
// with last-seen times shared by every node's digests; a silent device is raised once across the
// nodes, a device that moved to another node is not raised, the node it reports to clears it, and
// another node takes the check over within two check intervals when the holder dies.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AlarmDevice } from '../../broker/alarms/alarm.ts'
import { alarmKey, type StoredAlarm } from '../../broker/cluster/alarm-entry.ts'
import { openKvKeys } from '../../broker/cluster/kv-cas.ts'
import { ALARMS_BUCKET } from '../../broker/cluster/names.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { pointsOf, startAlarmNode, type AlarmNode } from '../helpers/alarm-node.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const CHECK_MS = 1000
/** Manholes are offline after 2 s of silence (1 s expected interval, 2 missed) instead of 3 h. */
const RULES = 'kinds:\n  manhole:\n    offline:\n      expectedIntervalSec: 1\n      missedIntervals: 2\n'

const devices = new Map<string, AlarmDevice>()
function manhole (id: string): AlarmDevice {
  const device = { id, kind: 'manhole', district: 'north' }
  devices.set(id, device)
  return device
}

let cluster: NatsCluster | undefined
let rulesDir: string | undefined
const nodes: AlarmNode[] = []
let a: AlarmNode
let b: AlarmNode

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  rulesDir = await makeTempDir('csg-cluster-rules-')
  const rulesFile = join(rulesDir, 'rules.yaml')
  await writeFile(rulesFile, RULES)
  // A starts first and so takes the offline check lease.
  a = await startAlarmNode('gw-a', { urls: cluster.urls, devices, offlineCheckMs: CHECK_MS, rulesFile })
  b = await startAlarmNode('gw-b', { urls: cluster.urls, devices, offlineCheckMs: CHECK_MS, rulesFile })
  nodes.push(a, b)
})
afterAll(async () => {
  for (const node of nodes.reverse()) await node.close()
  await cluster?.close()
  if (rulesDir !== undefined) await removeTempDir(rulesDir)
})

function offlineStates (node: AlarmNode, deviceId: string): string[] {
  return node.delivered.filter((d) => d.alarm.deviceId === deviceId && d.alarm.type === 'deviceOffline').map((d) => d.alarm.state)
}

describe('deviceOffline in a cluster', () => {
  it('one node holds the offline check, and both name it', async () => {
    expect(a.alarms.holdsOfflineCheck()).toBe(true)
    expect(b.alarms.holdsOfflineCheck()).toBe(false)
    expect(await a.alarms.offlineCheckHolder()).toBe('gw-a')
    expect(await b.alarms.offlineCheckHolder()).toBe('gw-a')
  })

  it('a silent device is raised once across the nodes; one that moved to the other node is not raised', async () => {
    const silent = manhole('mh-silent')
    const moved = manhole('mh-moved')
    a.reading(silent, { coverAngle: 1 })
    a.reading(moved, { coverAngle: 1 })
    // The moved device goes on reporting, to B only; A checks with what B's digests tell it.
    const reporting = setInterval(() => b.reading(moved, { coverAngle: 1 }), 400)
    try {
      await eventually(() => [offlineStates(a, silent.id), offlineStates(b, silent.id)], ([x, y]) => x?.length === 1 && y?.length === 1,
        { what: 'mh-silent raised offline on both nodes', timeoutMs: 10_000, intervalMs: 50 })
      await sleep(3 * CHECK_MS) // three more checks: no second raise, still nothing for the moved device
    } finally {
      clearInterval(reporting)
    }
    for (const node of [a, b]) {
      expect(offlineStates(node, silent.id)).toEqual(['active'])
      expect(offlineStates(node, moved.id)).toEqual([])
    }
    expect(pointsOf(a.points, silent.id)).toEqual(['deviceOffline:active']) // by the lease holder
    expect(pointsOf(b.points, silent.id)).toEqual([])
    expect([...pointsOf(a.points, moved.id), ...pointsOf(b.points, moved.id)]).toEqual([])
  })

  it('the node the silent device reports to again clears it, once', async () => {
    b.reading(devices.get('mh-silent')!, { coverAngle: 1 })
    for (const node of [a, b]) {
      await eventually(() => offlineStates(node, 'mh-silent'), (states) => states.includes('cleared'), { what: `cleared on ${node.name}`, timeoutMs: 5000, intervalMs: 20 })
    }
    await sleep(300)
    expect(offlineStates(a, 'mh-silent')).toEqual(['active', 'cleared'])
    expect(offlineStates(b, 'mh-silent')).toEqual(['active', 'cleared'])
    expect(pointsOf(b.points, 'mh-silent')).toEqual(['deviceOffline:cleared'])
    expect(pointsOf(a.points, 'mh-silent')).toEqual(['deviceOffline:active'])
  })

  it('a deviceOffline raised elsewhere for a device that reported here meanwhile is cleared here', async () => {
    // The holder raised from a last-seen time this node's digest had not yet updated: written here
    // as another node's raise, straight into the bucket.
    const device = manhole('mh-transit')
    b.reading(device, { coverAngle: 1 })
    const now = new Date().toISOString()
    const raised: StoredAlarm = {
      alarm: { id: 'transit-1', type: 'deviceOffline', severity: 'major', state: 'active', deviceId: device.id, kind: 'manhole', district: 'north', value: 5, threshold: 2, message: 'No reading', raisedAt: now, updatedAt: now },
      captured: {},
      change: 'raised',
      writer: 'gw-x#00000000',
    }
    const keys = openKvKeys(jetstream(b.nc), await jetstreamManager(b.nc), ALARMS_BUCKET)
    expect(await keys.compareAndSet(alarmKey(device.id, 'deviceOffline'), JSON.stringify(raised), 0)).toBeGreaterThan(0)
    for (const node of [a, b]) {
      await eventually(() => offlineStates(node, device.id), (states) => states.includes('cleared'), { what: `cleared on ${node.name}`, timeoutMs: 5000, intervalMs: 20 })
    }
    // gw-b heard the device and clears what it took in; gw-a, the bucket's follower, may take in the
    // raise or, when it reads after gw-b's clear replaced it, only the clear: either way it ends cleared.
    expect(offlineStates(b, device.id)).toEqual(['active', 'cleared'])
    expect([['active', 'cleared'], ['cleared']]).toContainEqual(offlineStates(a, device.id))
    expect(pointsOf(b.points, device.id)).toEqual(['deviceOffline:cleared'])
    expect(pointsOf(a.points, device.id)).toEqual([])
  })

  it('when the holder dies, another node takes the check over within two check intervals and raises for it', async () => {
    const later = manhole('mh-later')
    const lifted = manhole('mh-lifted')
    b.reading(later, { coverAngle: 1 })
    b.reading(lifted, { coverAngle: 120 })
    const alarm = await eventually(() => a.alarms.list().find((x) => x.deviceId === lifted.id), (x) => x !== undefined, { what: 'mh-lifted listed on gw-a', timeoutMs: 5000, intervalMs: 20 })
    const diedAt = Date.now()
    await a.nc.close() // gw-a is gone: no hand-back, its lease key expires
    const tookOverAt = await eventually(() => b.alarms.holdsOfflineCheck() ? Date.now() : undefined, (at) => at !== undefined,
      { what: 'gw-b holding the offline check', timeoutMs: 5 * CHECK_MS, intervalMs: 20 })
    expect(tookOverAt! - diedAt).toBeLessThanOrEqual(2 * CHECK_MS)
    expect(await b.alarms.offlineCheckHolder()).toBe('gw-b')

    await eventually(() => offlineStates(b, later.id), (states) => states.length === 1, { what: 'mh-later raised by gw-b', timeoutMs: 10_000, intervalMs: 50 })
    expect(offlineStates(b, later.id)).toEqual(['active'])
    expect(pointsOf(b.points, later.id)).toEqual(['deviceOffline:active'])

    // The node without NATS cannot store an acknowledgement: the API is told so (503), and the
    // node goes back to the alarm as it last knew it.
    expect(await a.alarms.acknowledgeById('crew-a', undefined, alarm!.id, undefined)).toEqual({ ok: false, reason: 'unavailable' })
    expect(a.alarms.list().find((x) => x.id === alarm!.id)).toMatchObject({ state: 'active' })
  })
})
