// Cluster mode refuses to start on a configuration it cannot honour, with a message naming the
// variable and exit code ≠ 0: unreachable NATS_URL, wrong credentials, more replicas than the
// NATS cluster has, a stream or bucket made with other replicas, --workers without NATS_URL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startNatsCluster, type NatsCluster } from '../helpers/nats.ts'
import { freePort } from '../helpers/ports.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { runCitygw, type CitygwResult } from '../helpers/citygw.ts'


async function citygw (args: string[], env: Record<string, string>): Promise<CitygwResult> {
  const dataDir = await makeTempDir('citygw-cluster-config-')
  try {
    return await runCitygw(args, { DATA_DIR: dataDir, MQTT_HOST: '127.0.0.1', MQTT_PORT: '0', HTTP_HOST: '127.0.0.1', HTTP_PORT: '0', LOG_LEVEL: 'warn', ...env })
  } finally {
    await removeTempDir(dataDir)
  }
}

let single: NatsCluster | undefined
let secured: NatsCluster | undefined
beforeAll(async () => {
  ;[single, secured] = await Promise.all([
    startNatsCluster({ nodes: 1 }),
    startNatsCluster({ nodes: 1, auth: { user: 'gateway', password: 'right-password' } }),
  ])
}, 60_000)
afterAll(async () => {
  await Promise.all([single?.close(), secured?.close()])
})

describe('cluster mode: bad configuration stops the start', () => {
  it('unreachable NATS_URL', async () => {
    const port = await freePort()
    const result = await citygw(['start'], { NATS_URL: `nats://127.0.0.1:${port}` })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/NATS_URL: no server of nats:\/\/127\.0\.0\.1:\d+ could be reached.*\(CSG_NATS_UNREACHABLE\)/)
  })

  it('a malformed NATS_URL', async () => {
    const result = await citygw(['start'], { NATS_URL: 'http://127.0.0.1:4222' })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/NATS_URL: not a nats:\/\/ or tls:\/\/ server address.*CSG_CONFIG_INVALID/)
  })

  it('wrong or missing credentials', async () => {
    const url = secured?.urls[0] ?? ''
    const wrong = await citygw(['start'], { NATS_URL: url, NATS_USER: 'gateway', NATS_PASSWORD: 'wrong-password' })
    expect(wrong.code).not.toBe(0)
    expect(wrong.stderr).toMatch(/NATS refused the credentials \(NATS_USER \/ NATS_PASSWORD\).*\(CSG_NATS_AUTH\)/)
    expect(wrong.stderr + wrong.stdout).not.toContain('wrong-password')
    const none = await citygw(['start'], { NATS_URL: url })
    expect(none.code).not.toBe(0)
    expect(none.stderr).toMatch(/NATS_USER \/ NATS_PASSWORD or NATS_TOKEN \(none set\).*\(CSG_NATS_AUTH\)/)
    const half = await citygw(['start'], { NATS_URL: url, NATS_USER: 'gateway' })
    expect(half.code).not.toBe(0)
    expect(half.stderr).toMatch(/NATS_PASSWORD: NATS_USER and NATS_PASSWORD go together/)
  })

  it('more replicas than the NATS cluster has servers', async () => {
    const result = await citygw(['start'], { NATS_URL: single?.urls[0] ?? '', NATS_REPLICAS: '3' })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/NATS_REPLICAS=3: the NATS cluster cannot place .* on 3 JetStream servers.*\(CSG_NATS_MISMATCH\)/)
  })

  it('--workers: a worker whose start fails exits and is started again; workers that keep failing stop the start', async () => {
    // Each worker fails at once (R3 on one server); a worker that hung on instead (its IPC channel
    // keeps it alive) would be neither restarted nor counted, and the start would run on.
    const result = await citygw(['start', '--workers', '2'], { NATS_URL: single?.urls[0] ?? '', NATS_REPLICAS: '3' })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/NATS_REPLICAS=3: the NATS cluster cannot place .*\(CSG_NATS_MISMATCH\)/)
    expect(result.stdout).toContain('worker exited; starting it again')
    expect(result.stdout).toContain('workers keep exiting; stopping')
  })

  it('a bucket made with other replicas is reported, not changed', async () => {
    const natsUrl = single?.urls[0] ?? ''
    // A 1-server NATS takes R1 only; a bucket of the same name made by hand with history 5 is another setting the gateway checks.
    const { connect } = await import('@nats-io/transport-node')
    const { Kvm } = await import('@nats-io/kv')
    const nc = await connect({ servers: natsUrl })
    try {
      await new Kvm(nc).create('csg-nodes', { replicas: 1, history: 5 })
    } finally {
      await nc.close()
    }
    const result = await citygw(['start'], { NATS_URL: natsUrl })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/KV bucket csg-nodes exists with max_msgs_per_subject 5, this node asks for 1.*\(CSG_NATS_MISMATCH\)/)
  })

  it('--workers without NATS_URL', async () => {
    const result = await citygw(['start', '--workers', '2'], {})
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/--workers needs NATS_URL \(cluster mode\).*\(CSG_CONFIG_INVALID\)/)
  })
})
