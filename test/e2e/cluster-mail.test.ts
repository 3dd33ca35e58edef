// Alarm e-mail in a cluster: two gateway nodes' alarm stages on a real 3-node nats-server cluster,
// both with e-mail to one real SMTP server (python3-aiosmtpd). A change is mailed once, by the node
// whose change it was, whichever node's device raised it; the other node only relays it to crews.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AlarmDevice } from '../../broker/alarms/alarm.ts'
import { DEFAULT_MAP_NAV_URL } from '../../broker/config.ts'
import { startAlarmNode, type AlarmNode } from '../helpers/alarm-node.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { startSmtpServer, type SmtpServer } from '../helpers/smtp.ts'
import { eventually } from '../helpers/wait.ts'

/** Long enough for a duplicate mail from the other node to have arrived over loopback. */
const SETTLE_MS = 1500

const devices = new Map<string, AlarmDevice>()
function manhole (id: string): AlarmDevice {
  const device = { id, kind: 'manhole', district: 'north' }
  devices.set(id, device)
  return device
}

let cluster: NatsCluster | undefined
let smtp: SmtpServer | undefined
let rulesDir: string | undefined
const nodes: AlarmNode[] = []

beforeAll(async () => {
  ;[cluster, smtp] = await Promise.all([startNatsCluster({ nodes: 3 }), startSmtpServer()])
  rulesDir = await makeTempDir('citygw-cluster-mail-')
  const rulesFile = join(rulesDir, 'rules.yaml')
  await writeFile(rulesFile, 'mail:\n  districts:\n    north:\n      critical: [north-crew@city.example]\n')
  const mail = {
    smtpUrl: smtp.url, from: 'alarms@city.example', timeoutMs: 5000, retryBaseMs: 200, retryMaxMs: 1000, maxQueued: 100, mapNavUrl: DEFAULT_MAP_NAV_URL,
  }
  for (const name of ['gw-a', 'gw-b']) nodes.push(await startAlarmNode(name, { urls: cluster.urls, devices, rulesFile, mail }))
})
afterAll(async () => {
  for (const node of nodes.reverse()) await node.close()
  await cluster?.close()
  await smtp?.close()
  if (rulesDir !== undefined) await removeTempDir(rulesDir)
})

describe('alarm e-mail in a cluster', () => {
  it('a raise is mailed once, by the node that made it', async () => {
    const [a, b] = nodes as [AlarmNode, AlarmNode]
    a.reading(manhole('mh-ca-1'), { coverAngle: 120 })
    b.reading(manhole('mh-cb-1'), { coverAngle: 120 })
    // Both nodes deliver both raises to their crews …
    for (const node of [a, b]) {
      await eventually(() => node.delivered.filter((d) => d.alarm.state === 'active').length, (n) => n >= 2, { timeoutMs: 5000, what: `both raises on ${node.name}` })
    }
    // … but each raise is mailed once.
    await eventually(() => smtp!.received(), (m) => m.length >= 2, { timeoutMs: 10_000, what: 'two mails' })
    await sleep(SETTLE_MS)
    const subjects = (await smtp!.received()).map((m) => m.subject).sort()
    expect(subjects).toEqual(['[critical] Cover open — mh-ca-1 (north)', '[critical] Cover open — mh-cb-1 (north)'])
  })
})
