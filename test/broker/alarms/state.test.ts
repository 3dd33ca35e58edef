// Alarm state files: open alarms and device memory saved apart, read back together; a device file
// of city size written a slice at a time.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createAlarmEngine, type RuleSource } from '../../../broker/alarms/engine.ts'
import type { AlarmDevice, DeviceMemory } from '../../../broker/alarms/alarm.ts'
import { ALARM_STATE_FILE, createDeviceMemoryWriter, createOpenAlarmsWriter, DEVICE_MEMORY_FILE, OPEN_ALARMS_MIN_INTERVAL_MS, readAlarmState } from '../../../broker/alarms/state.ts'
import { kinds } from '../../../devices/index.ts'

const log = pino({ level: 'silent' })
const rules: RuleSource = {
  rulesFor: (device) => (Object.values(kinds).find((k) => k.name === device.kind)?.rules ?? []).map((rule) => rule.build(rule.params)),
  offlineAfterMs: () => 60_000,
}
const manhole = (i: number): AlarmDevice => ({ id: `mh-${i}`, kind: 'manhole', district: `d-${i % 3}`, location: { lat: 52 + i / 1e4, lon: 4 } })

let dataDir: string
beforeEach(async () => { dataDir = await mkdtemp(path.join(os.tmpdir(), 'alarm-state-')) })
afterEach(async () => { await rm(dataDir, { recursive: true, force: true }) })

describe('alarm state files', () => {
  it('saves open alarms and device memory apart and restores an engine that raises nothing again', async () => {
    let n = 0
    const engine = createAlarmEngine(rules, undefined, () => `id-${++n}`)
    for (let i = 0; i < 2_500; i++) engine.evaluate(manhole(i), [{ tsMs: 1_000 + i, values: { coverAngle: i < 3 ? 120 : 1 } }], 5_000)
    const alarmsFile = createOpenAlarmsWriter(dataDir, () => engine.openEntries(), log)
    const devicesFile = createDeviceMemoryWriter(dataDir, () => engine.deviceMemory(), log)
    alarmsFile.save()
    devicesFile.save()
    await Promise.all([alarmsFile.flush(), devicesFile.flush()])

    const alarmsJson = JSON.parse(await readFile(path.join(dataDir, ALARM_STATE_FILE), 'utf8')) as { version: number; alarms: unknown[] }
    expect(alarmsJson.version).toBe(2)
    expect(alarmsJson.alarms).toHaveLength(3) // the open alarms only, not 2,500 devices
    expect((await readFile(path.join(dataDir, DEVICE_MEMORY_FILE), 'utf8')).trimEnd().split('\n')).toHaveLength(2_500)
    expect((await readdir(dataDir)).sort()).toEqual([ALARM_STATE_FILE, DEVICE_MEMORY_FILE].sort()) // no temp files left

    const restored = await readAlarmState(dataDir)
    expect(restored).toEqual(engine.snapshot())
    const again = createAlarmEngine(rules, restored, () => 'never')
    expect(again.openAlarms()).toEqual(engine.openAlarms())
    expect(again.evaluate(manhole(0), [{ tsMs: 10_000, values: { coverAngle: 130 } }], 10_000)).toEqual([])
    // Older than the newest reading seen before the restart: not evaluated.
    expect(again.evaluate(manhole(5), [{ tsMs: 900, values: { coverAngle: 120 } }], 10_000)).toEqual([])
  })

  it('has nothing to restore on a first start, and refuses a damaged file by name', async () => {
    expect(await readAlarmState(dataDir)).toBeUndefined()
    await writeFile(path.join(dataDir, DEVICE_MEMORY_FILE), '{"device":{"id":"mh-1","kind":"manhole","district":"d"}}\n{"device":7}\n')
    await expect(readAlarmState(dataDir)).rejects.toMatchObject({ code: 'CSG_ALARM_STATE_INVALID', message: expect.stringContaining(`${DEVICE_MEMORY_FILE} line 2`) as unknown })
    await writeFile(path.join(dataDir, ALARM_STATE_FILE), '{"version":2,"alarms":[')
    await expect(readAlarmState(dataDir)).rejects.toMatchObject({ code: 'CSG_ALARM_STATE_INVALID', message: expect.stringContaining(ALARM_STATE_FILE) as unknown })
  })

  it('writes the memory of 50,000 devices a slice at a time, letting the event loop run in between', async () => {
    const memory: DeviceMemory[] = Array.from({ length: 50_000 }, (_, i) => ({ device: manhole(i), newestTsMs: 1e12 + i, lastSeenMs: 1e12 + i }))
    let turns = 0
    let isWriting = true
    const spin = (): void => { turns++; if (isWriting) setImmediate(spin) }
    // The loop turn in which the writer reads each device: one big encode would read them all in one.
    const turnOfDevice: number[] = []
    function * observed (): Generator<DeviceMemory> {
      for (const entry of memory) { turnOfDevice.push(turns); yield entry }
    }
    const devicesFile = createDeviceMemoryWriter(dataDir, observed, log)
    setImmediate(spin)
    devicesFile.save()
    await devicesFile.flush()
    isWriting = false
    expect(turnOfDevice).toHaveLength(50_000)
    // 50 slices of 1,000 lines, the loop turning between them.
    expect(new Set(turnOfDevice).size).toBeGreaterThanOrEqual(50)
    expect((await readAlarmState(dataDir))?.devices).toEqual(memory)
  })

  it('coalesces a storm of alarm changes into a few rewrites, the last change on disk', async () => {
    let n = 0
    const engine = createAlarmEngine(rules, undefined, () => `id-${++n}`)
    let encodes = 0
    const alarmsFile = createOpenAlarmsWriter(dataDir, () => { encodes++; return engine.openEntries() }, log)
    const started = Date.now()
    for (let i = 0; i < 1_000; i++) {
      engine.evaluate(manhole(i), [{ tsMs: 1_000, values: { coverAngle: 120 } }], 2_000)
      alarmsFile.save()
      if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await alarmsFile.flush()
    const elapsed = Date.now() - started
    // One rewrite per interval at most (plus the first), not one per change.
    expect(encodes).toBeLessThanOrEqual(Math.ceil(elapsed / OPEN_ALARMS_MIN_INTERVAL_MS) + 1)
    expect((await readAlarmState(dataDir))?.alarms).toHaveLength(1_000)
  })
})
