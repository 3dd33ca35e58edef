// The gateway restarted under a running simulator (same DATA_DIR and port): the devices reconnect
// with backoff, the run completes, and what was sent after the restart is acknowledged.
import { afterAll, expect, it } from 'vitest'
import { runSimulation } from '../../simulators/simulate.ts'
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { provisionTestFleet } from './run-helpers.ts'

const gateways: TestGateway[] = []

afterAll(async () => {
  for (const gw of gateways) await gw.close(true)
})

function sleep (ms: number): Promise<void> {
  return new Promise(function wake (resolve) { setTimeout(resolve, ms) })
}

it('devices reconnect after a gateway restart and the run completes', async () => {
  const port = String(await freePort())
  const first = await startTestGateway({ env: { MQTT_PORT: port } })
  gateways.push(first)
  const fleet = await provisionTestFleet(first, 'rcn', { 'lamp-post': 2, 'water-pipe': 1, manhole: 1 }, 3)
  const running = runSimulation({
    url: first.mqttUrl,
    devices: fleet.devices,
    crew: fleet.crew,
    seed: 3,
    intervalMs: 60_000,
    speed: 600, // a reading per device every 100 ms, for 6 s
    startMs: Date.now() - 3_600_000,
    spanMs: 3_600_000,
    injections: [],
    backoffBaseMs: 100,
    backoffMaxMs: 1000,
    settleMs: 200,
  })
  await sleep(1500)
  await first.close()
  gateways.pop()
  await sleep(1000)
  const second = await startTestGateway({ dataDir: first.dataDir, env: { MQTT_PORT: port } })
  gateways.push(second)
  const summary = await running
  expect(summary.reconnects).toBeGreaterThanOrEqual(fleet.devices.length)
  expect(summary.connected).toBe(fleet.devices.length)
  expect(summary.unsent).toBe(0)
  expect(summary.sent).toBe(4 * 60)
  // Publishes in flight when the gateway stopped may fail; the devices buffered the rest and sent it after reconnecting.
  expect(summary.acknowledged + summary.failed).toBe(summary.sent)
  expect(summary.acknowledged).toBeGreaterThan(summary.sent - 4 * 20)
}, 40_000)
