// Escalation in a cluster: two alarm stages on a real 3-node nats-server cluster, a 1 s deadline
// for critical alarms from the rules file. Each step of an unacknowledged alarm is taken once
// (only the offline check's holder escalates; compare-and-set in the alarms bucket): one `overdue`
// point and one call of the e-mail hook per step across the nodes, while both nodes deliver every
// step to their crews and escalation crews; an acknowledgement at the other node stops the steps.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AlarmDevice, AlarmRecord } from '../../broker/alarms/alarm.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { startAlarmNode, type AlarmNode } from '../helpers/alarm-node.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

const RULES = 'districts:\n  north:\n    ackDeadlineSec: { critical: 1 }\n    escalateTo: [supervisors, duty@city.example]\n'
const device: AlarmDevice = { id: 'mh-esc', kind: 'manhole', district: 'north' }
const devices = new Map([[device.id, device]])

let cluster: NatsCluster | undefined
let rulesDir: string | undefined
const nodes: AlarmNode[] = []
/** E-mail hook calls per node: the step numbers. */
const mailed: Record<string, number[]> = {}

beforeAll(async () => {
  rulesDir = await makeTempDir('citygw-cluster-escalation-')
  const rulesFile = join(rulesDir, 'rules.yaml')
  await writeFile(rulesFile, RULES)
  cluster = await startNatsCluster({ nodes: 3 })
  // gw-a starts first and holds the offline check; gw-b looks far more often, so were it to escalate too it would take the steps.
  for (const [name, offlineCheckMs] of [['gw-a', 400], ['gw-b', 50]] as const) {
    const node = await startAlarmNode(name, { urls: cluster.urls, devices, rulesFile, offlineCheckMs })
    mailed[name] = []
    node.alarms.onEscalation((event, recipients) => {
      expect(recipients.emails).toEqual(['duty@city.example'])
      mailed[name]!.push(event.alarm.escalation ?? 0)
    })
    nodes.push(node)
  }
}, 60_000)

afterAll(async () => {
  for (const node of [...nodes].reverse()) await node.close()
  await cluster?.close()
  if (rulesDir !== undefined) await removeTempDir(rulesDir)
})

function steps (node: AlarmNode, prefix: string): number[] {
  return node.delivered.filter((d) => d.topic.startsWith(prefix) && d.alarm.escalation !== undefined && d.alarm.state === 'active').map((d) => d.alarm.escalation!)
}

function overduePoints (): number[] {
  return nodes.flatMap((node) => node.points)
    .filter((line) => line.startsWith('alarms,') && line.includes('change="overdue"'))
    .map((line) => Number(/escalation=(\d+)i/.exec(line)?.[1]))
    .sort((x, y) => x - y)
}

describe('escalation in a cluster', () => {
  it('takes each step once across the nodes, delivers it on every node, and stops at an acknowledgement made at the other node', async () => {
    const [a, b] = nodes as [AlarmNode, AlarmNode]
    a.reading(device, { coverAngle: 120 })
    await eventually(() => [steps(a, 'alarms/'), steps(b, 'alarms/')], ([x, y]) => (x?.includes(2) ?? false) && (y?.includes(2) ?? false),
      { what: 'escalation 2 delivered on both nodes', timeoutMs: 15_000, intervalMs: 50 })
    const alarm = b.alarms.list().find((r) => r.deviceId === device.id) as AlarmRecord
    b.ackOverMqtt('crew-b', alarm, 'on site')
    await eventually(() => [a, b].map((n) => n.alarms.list().find((r) => r.deviceId === device.id)?.state), (s) => s.every((x) => x === 'acknowledged'),
      { what: 'acknowledged on both', timeoutMs: 5000, intervalMs: 20 })
    // Two more deadline periods, and a stray duplicate's time.
    await sleep(2_300)

    const taken = overduePoints()
    expect(taken.length).toBeGreaterThanOrEqual(2)
    // One point per step, numbered 1, 2, … without a gap or a repeat.
    expect(taken).toEqual(Array.from({ length: taken.length }, (_, i) => i + 1))
    // One e-mail hand-over per step, all by the node holding the offline check.
    const holder = nodes.find((node) => node.alarms.holdsOfflineCheck())!
    expect(mailed[holder.name]).toEqual(taken)
    expect(nodes.filter((node) => node !== holder).flatMap((node) => mailed[node.name]!)).toEqual([])
    for (const node of [a, b]) {
      expect(steps(node, 'alarms/north/manhole/mh-esc/coverOpen')).toEqual(taken)
      expect(steps(node, 'escalations/supervisors/north/manhole/mh-esc/coverOpen')).toEqual(taken)
    }
  }, 40_000)
})
