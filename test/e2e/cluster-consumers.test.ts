// Consumers in cluster mode (real nats-server, two gateway processes): a consumer added with the
// CLI goes into the registry bucket and is accepted on both nodes over HTTP and MQTT; removing it
// refuses it on both.
import { afterAll, beforeAll, expect, it } from 'vitest'
import { startClusterRig, type ClusterNodeProcess, type ClusterRig } from '../helpers/cluster.ts'
import { connectOutcome } from '../helpers/mqtt.ts'
import { eventually } from '../helpers/wait.ts'

let rig: ClusterRig | undefined
let nodes: ClusterNodeProcess[] = []

beforeAll(async () => {
  rig = await startClusterRig()
  nodes = [await rig.startNode('gw-a'), await rig.startNode('gw-b')]
}, 90_000)
afterAll(async () => {
  await rig?.close()
}, 60_000)

async function status (node: ClusterNodeProcess, token: string): Promise<number> {
  return (await fetch(`${node.httpUrl}/api/devices`, { headers: { authorization: `Bearer ${token}` } })).status
}

it('a consumer added with the CLI is accepted on both nodes, and refused on both once removed', async () => {
  const device = await rig!.citygw(['device', 'add', 'lp-c1', '--kind', 'lamp-post', '--district', 'centre', '--lat', '52.1', '--lon', '4.3'])
  expect(device.code, device.stderr).toBe(0)
  const added = await rig!.citygw(['consumer', 'add', 'portal', '--districts', 'centre', '--json'])
  expect(added.code, added.stderr).toBe(0)
  const { token } = JSON.parse(added.stdout) as { token: string }
  const listed = await rig!.citygw(['consumer', 'list', '--json'])
  expect(listed.stdout).toMatch(/"name":"portal"/)
  expect(listed.stdout).not.toContain(token.slice('portal.'.length))

  for (const node of nodes) {
    await eventually(() => status(node, token), (code) => code === 200, { what: `portal accepted on ${node.name}`, timeoutMs: 5000 })
    const body = await (await fetch(`${node.httpUrl}/api/devices`, { headers: { authorization: `Bearer ${token}` } })).json() as { devices: { id: string; location: { lat: number } }[] }
    expect(body.devices.map((d) => d.id)).toEqual(['lp-c1'])
    expect(body.devices[0]?.location.lat).not.toBe(52.1)
    expect(await connectOutcome(node.mqttUrl, { clientId: `portal-${node.name}`, username: 'portal', password: token })).toBe('connected')
  }

  const removed = await rig!.citygw(['consumer', 'remove', 'portal'])
  expect(removed.code, removed.stderr).toBe(0)
  for (const node of nodes) {
    await eventually(() => status(node, token), (code) => code === 401, { what: `portal refused on ${node.name}`, timeoutMs: 5000 })
    expect(await connectOutcome(node.mqttUrl, { clientId: `portal-${node.name}`, username: 'portal', password: token })).toMatch(/Bad username or password|Not authorized/)
  }
}, 60_000)
