// Disk full: DATA_DIR on a 1 MiB tmpfs (mounted here; needs root), far below SPOOL_MAX_BYTES.
// Writes fail with ENOSPC while InfluxDB is down: the gateway refuses without PUBACK instead of
// crashing, and once InfluxDB is back and the volume has room, every acknowledged reading is stored
// and appends resume.
import { execFileSync } from 'node:child_process'
import type { MqttClient } from 'mqtt'
import { expect, it, onTestFinished } from 'vitest'
import { startInfluxDb1 } from '../helpers/influxdb.ts'
import { registerDevice, spawnGatewayProcess } from '../helpers/gateway.ts'
import { connectDevice } from '../helpers/mqtt.ts'
import { makeTempDir, removeTempDir } from '../helpers/server-process.ts'
import { eventually } from '../helpers/wait.ts'

it('survives ENOSPC on a full tmpfs without losing an acknowledged reading', async () => {
  const influx = await startInfluxDb1({ databases: ['city'] })
  onTestFinished(() => influx.close())
  const mountPoint = await makeTempDir('citygw-enospc-')
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mountPoint])
  onTestFinished(async () => {
    execFileSync('umount', ['-l', mountPoint])
    await removeTempDir(mountPoint)
  })
  const { secret } = await registerDevice(mountPoint, 'disk-1', 'manhole')
  // A child process: its logs go to a pipe, not to the full disk.
  const gw = await spawnGatewayProcess({ DATA_DIR: mountPoint, INFLUX_URL: influx.url, INFLUX_API: 'v1', SPOOL_SEGMENT_BYTES: '65536', INFLUX_TIMEOUT_MS: '1000' })
  onTestFinished(async () => {
    gw.child.kill('SIGTERM')
    expect(await gw.exited).toBe(0)
  })
  await influx.stop()

  const base = Date.now() - 3_600_000
  const acked: number[] = []
  let refusals = 0
  let client: MqttClient = await connectDevice(gw.mqttUrl, 'disk-1', secret)
  // ~2.6 KB per message (50 readings): 1 MiB fills after a few hundred.
  for (let i = 0; i < 800 && refusals < 5; i++) {
    const batch = Array.from({ length: 50 }, (_, k) => ({ ts: base + i * 50 + k, coverAngle: 4 }))
    if (await publishOrClosed(client, JSON.stringify(batch))) {
      acked.push(i)
      continue
    }
    // Refused without PUBACK: the gateway closed the connection; this device gives up on the message.
    refusals++
    client.end(true)
    client = await connectDevice(gw.mqttUrl, 'disk-1', secret)
  }
  onTestFinished(() => client.endAsync(true))
  expect(refusals).toBeGreaterThan(0)
  expect(acked.length).toBeGreaterThan(50)
  expect((await fetch(`${gw.httpUrl}/healthz`)).status).toBe(200)
  expect(gw.output().some((l) => l.includes('"telemetry not stored; closing the connection so the device retries"'))).toBe(true)

  await influx.start()
  // Nobody makes room: the writer delivers, the cursor is rewritten in place (its file was
  // preallocated), delivered segments are deleted, and the spool has room again by itself.
  const want = acked.length * 50
  await eventually(() => influx.count('city', 'manhole', 'coverAngle'), (n) => n >= want, { timeoutMs: 30_000, intervalMs: 500, what: `${want} acknowledged readings` })
  // Room again: new readings are acknowledged and stored.
  const fresh = await connectDevice(gw.mqttUrl, 'disk-1', secret)
  onTestFinished(() => fresh.endAsync(true))
  await eventually(async () => {
    await fresh.publishAsync('devices/disk-1/telemetry', JSON.stringify({ ts: base - 1, coverAngle: 5 }), { qos: 1 })
    return true
  }, Boolean, { timeoutMs: 15_000, what: 'an append after the disk had room again' })
  const [result] = await eventually(() => influx.query(`SELECT coverAngle FROM manhole WHERE time = ${base - 1}ms`, 'city'), (r) => r[0]?.series !== undefined, { what: 'the new reading' })
  expect(result?.series?.[0]?.values[0]?.[1]).toBe(5)
}, 60_000)

/** true once acknowledged; false when the connection closes first (no PUBACK). */
function publishOrClosed (client: MqttClient, payload: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = (): void => { resolve(false) }
    client.once('close', onClose)
    client.publish('devices/disk-1/telemetry', payload, { qos: 1 }, (err) => {
      client.removeListener('close', onClose)
      resolve(err === undefined || err === null)
    })
  })
}
