// The bench's lean load generator (test/bench/lean-generator.ts) against a real gateway: it signs
// in as registered devices, keeps its window of QoS 1 publishes in flight, counts PUBACKs read from
// the bytes, and reports what the gateway accepted; a wrong secret is a refused CONNECT, not a hang.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LoadSpec } from '../bench/load-generator.ts'
import { REPO_ROOT, registerDevice, startTestGateway, type TestGateway } from '../helpers/gateway.ts'

interface Result { connected: number; published: number; acked: number; unacked: number; skipped: number; ackedInWindow: number; publishedInWindow: number; targetRatePerSec: number | null; generatorCpuPercent: number; clientErrors: Record<string, number> }

describe('lean load generator', () => {
  let gw: TestGateway
  const devices: LoadSpec['devices'] = []

  beforeAll(async () => {
    gw = await startTestGateway()
    for (const [i, kind] of (['lamp-post', 'water-pipe', 'manhole', 'lamp-post'] as const).entries()) {
      const id = `lean-${i}`
      devices.push({ id, kind, secret: (await registerDevice(gw.dataDir, id, kind)).secret })
    }
    await gw.gateway.reloadRegistry()
  })

  afterAll(async () => { await gw?.close(true) })

  async function run (specDevices: LoadSpec['devices'], openLoop: Partial<LoadSpec> = {}): Promise<Result> {
    const spec: LoadSpec = { url: gw.mqttUrl, devices: specDevices, warmupSec: 0, durationSec: 1, window: 4, connectConcurrency: 4, drainTimeoutSec: 5, seed: 1, ...openLoop }
    const file = join(gw.dataDir, `spec-${Date.now()}.json`)
    await writeFile(file, JSON.stringify(spec))
    const { stdout } = await promisify(execFile)('node', ['--import', 'tsx', join(REPO_ROOT, 'test/bench/lean-generator.ts'), file], { cwd: REPO_ROOT, timeout: 60_000 })
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string })
    expect(lines.map((l) => l.type)).toEqual(['connected', 'windowStart', 'loadEnd', 'result'])
    return lines[3] as unknown as Result
  }

  it('keeps every device\'s window in flight and every publish is acknowledged and accepted', async () => {
    const before = await acceptedMessages()
    const result = await run(devices)
    expect(result.connected).toBe(4)
    expect(result.ackedInWindow).toBeGreaterThan(100)
    expect(result.unacked).toBe(0)
    expect(result.acked).toBe(result.published)
    expect(result.clientErrors).toEqual({})
    expect(await acceptedMessages() - before).toBeGreaterThanOrEqual(result.acked)
  })

  it('in open loop sends at the rate asked, each device one message at a time, and counts the turns it skipped', async () => {
    const result = await run(devices, { ratePerSec: 200, window: 1, durationSec: 2 })
    expect(result.targetRatePerSec).toBe(200)
    // 2 s at 200/s: about 400 turns in the window, each a publish or a skip.
    expect(result.publishedInWindow + result.skipped).toBeGreaterThan(300)
    expect(result.publishedInWindow + result.skipped).toBeLessThan(500)
    expect(result.publishedInWindow).toBeGreaterThan(200)
    expect(result.unacked).toBe(0)
    expect(result.acked).toBe(result.published)
  })

  it('counts a refused CONNECT and goes on with the devices that were let in', async () => {
    const result = await run([...devices.slice(0, 2), { id: 'lean-0x', kind: 'manhole', secret: 'wrong' }])
    expect(result.connected).toBe(2)
    // Bad user name or password (MQTT 3.1.1 return codes 4 and 5).
    expect(Object.keys(result.clientErrors)).toEqual([expect.stringMatching(/^connack [45]$/)])
    expect(result.unacked).toBe(0)
  })

  async function acceptedMessages (): Promise<number> {
    const text = await (await fetch(`${gw.httpUrl}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith('citygw_messages_total{') && l.includes('outcome="accepted"'))
    return Number(line?.split(' ').pop() ?? 0)
  }
})
