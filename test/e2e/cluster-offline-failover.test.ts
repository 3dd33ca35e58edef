// deviceOffline in a cluster: one node holds the offline-check lease; when it is killed another
// takes it over, and a device that stops reporting is reported once — not once per node — while a
// device that moved to the other node is not reported at all.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { collect, connectClient, connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

let rig: ClusterRig | undefined
let rulesDir: string
const clients: MqttClient[] = []

beforeAll(async () => {
  rulesDir = await makeTempDir('csg-offline-rules-')
  const rulesFile = join(rulesDir, 'rules.json')
  // Silent for 3 s = offline, checked twice a second: the test runs in seconds, not hours.
  await writeFile(rulesFile, JSON.stringify({ kinds: { 'water-pipe': { offline: { expectedIntervalSec: 1, missedIntervals: 3 } } } }))
  rig = await startClusterRig({ env: { ALARM_RULES_FILE: rulesFile, ALARM_OFFLINE_CHECK_MS: '500' } })
}, 90_000)
afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)))
  await rig?.close()
  await removeTempDir(rulesDir)
}, 60_000)

async function holder (): Promise<string | null> {
  const result = await rig!.citygw(['cluster', 'status', '--json'])
  return (JSON.parse(result.stdout) as { offlineCheckHolder: string | null }).offlineCheckHolder
}

it('the lease moves when its holder dies; a silent device is reported once, a moved one not at all', async () => {
  const secrets = await rig!.importDevices([
    { id: 'wp-silent', kind: 'water-pipe', district: 'east' },
    { id: 'wp-mover', kind: 'water-pipe', district: 'east' },
  ])
  const crewSecret = await rig!.addCrew('crew-east', ['east'])
  const nodes = new Map<string, ClusterNodeProcess>()
  for (const name of ['gw-a', 'gw-b']) nodes.set(name, await rig!.startNode(name))
  const first = await eventually(holder, (h) => h !== null, { what: 'a lease holder', timeoutMs: 10_000, intervalMs: 250 })
  const holderNode = nodes.get(first!)!
  const survivor = [...nodes.values()].find((n) => n !== holderNode)!

  const crew = await connectClient(survivor.mqttUrl, { clientId: 'crew-east-1', username: 'crew-east', password: crewSecret })
  clients.push(crew)
  const alarms = await collect(crew, 'alarms/east/#')

  // Both devices start on the holder; the mover goes on reporting through the survivor.
  const silent = await connectDevice(holderNode.mqttUrl, 'wp-silent', secrets.get('wp-silent')!)
  const mover = await connectDevice(holderNode.mqttUrl, 'wp-mover', secrets.get('wp-mover')!)
  clients.push(silent, mover)
  await silent.publishAsync('devices/wp-silent/telemetry', JSON.stringify({ pressure: 400 }), { qos: 1 })
  await mover.publishAsync('devices/wp-mover/telemetry', JSON.stringify({ pressure: 400 }), { qos: 1 })
  await mover.endAsync()
  const moved = await connectDevice(survivor.mqttUrl, 'wp-mover', secrets.get('wp-mover')!)
  clients.push(moved)
  let reporting = true
  const moverLoop = (async () => {
    while (reporting) {
      await moved.publishAsync('devices/wp-mover/telemetry', JSON.stringify({ pressure: 401 }), { qos: 1 }).catch(() => undefined)
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  })()

  // Nodes share what they heard once per check interval: let one pass before the holder dies.
  await new Promise((resolve) => setTimeout(resolve, 1500))
  holderNode.child.kill('SIGKILL')
  await holderNode.exited
  const killedAt = Date.now()
  await eventually(holder, (h) => h === survivor.name, { what: `${survivor.name} holding the lease`, timeoutMs: 10_000, intervalMs: 100 })
  console.log(`cluster-offline: lease taken over by ${survivor.name} ${Date.now() - killedAt} ms after the holder was killed`)

  await alarms.waitFor(1, 15_000)
  expect(alarms.json(0)).toMatchObject({ type: 'deviceOffline', deviceId: 'wp-silent', state: 'active' })
  await new Promise((resolve) => setTimeout(resolve, 4000)) // more than the offline period again
  reporting = false
  await moverLoop
  const offline = alarms.messages.map((m) => JSON.parse(m.payload.toString()) as { type: string, deviceId: string, state: string })
    .filter((a) => a.type === 'deviceOffline')
  expect(offline).toEqual([expect.objectContaining({ deviceId: 'wp-silent', state: 'active' })])
}, 90_000)
