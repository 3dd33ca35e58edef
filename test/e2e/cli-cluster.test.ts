// The `citygw` provisioning commands in cluster mode (a real child process with NATS_URL, a real
// 3-node nats-server cluster): they write the registry bucket, not DATA_DIR/registry.json, and a
// gateway node's registry (openKvRegistry) sees each change. `registry export|import` moves a
// single node's registry.json into the cluster with its hashes, so every device keeps its secret.
import { access, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { openRegistryBucket } from '../../broker/cluster/registry-bucket.ts'
import { openKvRegistry } from '../../broker/cluster/registry-kv.ts'
import { REGISTRY_BUCKET } from '../../broker/cluster/names.ts'
import { createLogger } from '../../broker/log.ts'
import type { Registry } from '../../broker/registry/registry.ts'
import { verifySecret } from '../../broker/registry/secrets.ts'
import { freePort } from '../helpers/ports.ts'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'
import { runCitygw, type CitygwResult } from '../helpers/citygw.ts'

const silent = createLogger('silent')

let cluster: NatsCluster | undefined
let nc: NatsConnection | undefined
let dataDir: string
let node: Registry | undefined

beforeAll(async () => {
  cluster = await startNatsCluster({ nodes: 3 })
  nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1, reconnectTimeWait: 100 })
})
afterAll(async () => {
  await nc?.close()
  await cluster?.close()
})
beforeEach(async () => { dataDir = await makeTempDir('citygw-cli-cluster-') })
afterEach(async () => {
  node?.close()
  node = undefined
  // Each test starts from an empty bucket.
  await (await jetstreamManager(nc!)).streams.delete(`KV_${REGISTRY_BUCKET}`).catch(() => false)
  await removeTempDir(dataDir)
})

function citygw (args: string[], env: Record<string, string> = {}): Promise<CitygwResult> {
  return runCitygw(args, { DATA_DIR: dataDir, ...env })
}

/** citygw in cluster mode: NATS_URL lists every server of the test cluster. */
function clustered (args: string[]): ReturnType<typeof citygw> {
  return citygw(args, { NATS_URL: cluster!.urls.join(',') })
}

/** A gateway node's view of the bucket, on its own connection. */
async function openNode (): Promise<Registry> {
  node = await openKvRegistry({ bucket: await openRegistryBucket(nc!, 3), log: silent })
  return node
}

async function within1s (isDone: () => boolean, what: string): Promise<void> {
  await eventually(isDone, (done) => done, { timeoutMs: 1000, intervalMs: 10, what })
}

describe('citygw provisioning with NATS_URL', () => {
  it('device add / import / list / remove, crew add and operator add write the bucket a node follows', async () => {
    const added = await clustered(['device', 'add', 'lp.9', '--kind', 'lamp-post', '--district', 'north', '--lat', '52.37', '--lon', '4.89', '--json'])
    expect(added.code, added.stderr).toBe(0)
    const { secret } = JSON.parse(added.stdout) as { id: string; secret: string }
    const gateway = await openNode()
    expect(gateway.getDevice('lp.9')).toMatchObject({ kind: 'lamp-post', district: 'north', lat: 52.37, lon: 4.89 })
    expect(verifySecret(secret, gateway.getDevice('lp.9')!.secretHash)).toBe(true)
    await expect(access(join(dataDir, 'registry.json'))).rejects.toThrow()

    const crew = await clustered(['crew', 'add', 'crew-a', '--districts', 'north', '--json'])
    const operator = await clustered(['operator', 'add', 'op-1', '--json'])
    expect([crew.code, operator.code]).toEqual([0, 0])
    await within1s(() => gateway.getCrew('crew-a') !== undefined && gateway.getOperator('op-1') !== undefined, 'crew and operator on the node')
    expect(gateway.getCrew('crew-a')?.districts).toEqual(['north'])

    const csv = join(dataDir, 'fleet.csv')
    const out = join(dataDir, 'secrets.jsonl')
    await writeFile(csv, 'id,kind,district,lat,lon\nwp-1,water-pipe,harbour,51.9,4.4\nwp-2,water-pipe,harbour,,\n')
    const imported = await clustered(['device', 'import', csv, '--out', out])
    expect(imported.code, imported.stderr).toBe(0)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const secrets = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: string; secret: string })
    await within1s(() => gateway.getDevice('wp-2') !== undefined, 'imported devices on the node')
    for (const { id, secret: s } of secrets) expect(verifySecret(s, gateway.getDevice(id)!.secretHash), id).toBe(true)

    const duplicate = await clustered(['device', 'add', 'wp-1', '--kind', 'manhole', '--district', 'n'])
    expect(duplicate.code).not.toBe(0)
    expect(duplicate.stderr).toMatch(/CSG_REGISTRY_CONFLICT/)

    const listed = await clustered(['device', 'list', '--json'])
    expect(listed.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id).sort()).toEqual(['lp.9', 'wp-1', 'wp-2'])
    expect(listed.stdout).not.toContain('secretHash')

    const revoked: string[] = []
    gateway.onRevoked((names) => { revoked.push(...names) })
    expect((await clustered(['device', 'remove', 'lp.9'])).code).toBe(0)
    await within1s(() => gateway.getDevice('lp.9') === undefined, 'removal on the node')
    expect(revoked).toEqual(['lp.9'])
    expect((await clustered(['device', 'remove', 'lp.9'])).stderr).toMatch(/CSG_REGISTRY_NOT_FOUND/)
  }, 90_000)

  it('registry export from registry.json, import into the cluster, export again: the same registry, the same secrets', async () => {
    const device = JSON.parse((await citygw(['device', 'add', 'mh.1', '--kind', 'manhole', '--district', 'east', '--json'])).stdout) as { secret: string }
    await citygw(['device', 'add', 'lp-2', '--kind', 'lamp-post', '--district', 'east', '--lat', '1', '--lon', '2'])
    await citygw(['crew', 'add', 'crew-e', '--districts', 'east'])
    await citygw(['operator', 'add', 'op-e'])
    const file = join(dataDir, 'export.json')
    const exported = await citygw(['registry', 'export', '--out', file])
    expect(exported.code, exported.stderr).toBe(0)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(exported.stdout).toMatch(/devices: 2, crews: 1, operators: 1/)
    const fromFile = JSON.parse(await readFile(file, 'utf8')) as unknown
    expect(fromFile).toEqual(JSON.parse(await readFile(join(dataDir, 'registry.json'), 'utf8')))

    const imported = await clustered(['registry', 'import', file])
    expect(imported.code, imported.stderr).toBe(0)
    expect(imported.stdout).toMatch(/devices: 2 added, 0 replaced, 0 updated, 0 unchanged/)
    expect(imported.stdout).toMatch(/crews: 1 added/)
    expect(imported.stdout).toMatch(/operators: 1 added/)

    const fromCluster = await clustered(['registry', 'export'])
    expect(fromCluster.code, fromCluster.stderr).toBe(0)
    expect(JSON.parse(fromCluster.stdout)).toEqual(fromFile)
    const gateway = await openNode()
    expect(verifySecret(device.secret, gateway.getDevice('mh.1')!.secretHash)).toBe(true)

    const again = await clustered(['registry', 'import', file])
    expect(again.stdout).toMatch(/devices: 0 added, 0 replaced, 0 updated, 2 unchanged/)

    // Another secret for a registered id is refused without --replace, and nothing changes.
    const other = JSON.parse(await readFile(file, 'utf8')) as { devices: Record<string, { secretHash: string }> }
    other.devices['mh.1']!.secretHash = gateway.getDevice('lp-2')!.secretHash
    const otherFile = join(dataDir, 'other.json')
    await writeFile(otherFile, JSON.stringify(other))
    const refused = await clustered(['registry', 'import', otherFile])
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/mh\.1 \(another secret\).*CSG_REGISTRY_CONFLICT/)
    expect(verifySecret(device.secret, gateway.getDevice('mh.1')!.secretHash)).toBe(true)
    const replaced = await clustered(['registry', 'import', otherFile, '--replace'])
    expect(replaced.stdout).toMatch(/devices: 0 added, 1 replaced/)
    await within1s(() => !verifySecret(device.secret, gateway.getDevice('mh.1')!.secretHash), 'replaced secret on the node')
  }, 90_000)

  it('stops with CSG_NATS_UNREACHABLE when no server of NATS_URL answers', async () => {
    const result = await citygw(['device', 'list'], { NATS_URL: `nats://127.0.0.1:${await freePort()}` })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/CSG_NATS_UNREACHABLE/)
  })
})
