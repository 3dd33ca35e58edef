// Alarm state on disk, so a restart neither loses open alarms nor raises them again:
// - DATA_DIR/alarms.json: the open alarms, rewritten after alarm changes (at most every 250 ms).
//   It holds only what is open, however many devices there are.
// - DATA_DIR/alarm-devices.jsonl: each device's newest reading time and last-seen time, one JSON
//   line per device, rewritten now and then (the caller's schedule). At 50,000 devices that is
//   ≈ 9 MB: it is encoded a slice at a time so that alarms keep flowing while it is written.
// Who acknowledged and the note are sealed with the data key in alarms.json (broker/crypto/).
// Both are replaced atomically (temp file, fsync, rename, fsync of the directory); each writer
// coalesces: at most one write in flight and one more queued.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { alarmsFileSchema, deviceMemorySchema, type DeviceMemory, type EngineSnapshot, type OpenAlarm } from './alarm.ts'
import { replaceFile } from '../replace-file.ts'
import type { FieldCipher } from '../crypto/field-cipher.ts'
import { openOpenAlarm, sealOpenAlarm } from '../crypto/sealed-alarm.ts'

export const ALARM_STATE_FILE = 'alarms.json'
export const DEVICE_MEMORY_FILE = 'alarm-devices.jsonl'
/** Least time between two rewrites of alarms.json. */
export const OPEN_ALARMS_MIN_INTERVAL_MS = 250
/** Devices encoded per slice of alarm-devices.jsonl: about a millisecond of work each. */
const DEVICES_PER_SLICE = 1000

export async function readIfExists (file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function invalid (file: string, reason: string): GatewayError {
  return new GatewayError('CSG_ALARM_STATE_INVALID', `${file}: ${reason}`)
}

function parseJson (file: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw invalid(file, (err as Error).message)
  }
}

/**
 * The saved state, or undefined when there is none (a first start). With `cipher`, sealed fields are
 * opened (a key the cipher lacks: CSG_DATA_KEY_MISSING).
 */
export async function readAlarmState (dataDir: string, cipher?: FieldCipher): Promise<EngineSnapshot | undefined> {
  const alarmsFile = path.join(dataDir, ALARM_STATE_FILE)
  const devicesFile = path.join(dataDir, DEVICE_MEMORY_FILE)
  const [alarmsText, devicesText] = await Promise.all([readIfExists(alarmsFile), readIfExists(devicesFile)])
  if (alarmsText === undefined && devicesText === undefined) return undefined

  let alarms: OpenAlarm[] = []
  const devices: DeviceMemory[] = []
  if (alarmsText !== undefined) {
    const parsed = alarmsFileSchema.safeParse(parseJson(alarmsFile, alarmsText))
    if (!parsed.success) throw invalid(alarmsFile, parsed.error.issues[0]?.message ?? 'invalid')
    alarms = cipher === undefined ? parsed.data.alarms : parsed.data.alarms.map(function open (entry) { return openOpenAlarm(entry, cipher) })
  }
  if (devicesText !== undefined) {
    const lines = devicesText.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string
      if (line === '') continue
      const parsed = deviceMemorySchema.safeParse(parseJson(`${devicesFile} line ${i + 1}`, line))
      if (!parsed.success) throw invalid(`${devicesFile} line ${i + 1}`, parsed.error.issues[0]?.message ?? 'invalid')
      devices.push(parsed.data)
    }
  }
  return { alarms, devices }
}

/** A file rewritten on request: coalesced, errors logged (the next request tries again). */
export interface StateFileWriter {
  /** Schedules a write of what the content function yields at write time. */
  save(): void
  /** Resolves once everything scheduled is on disk. */
  flush(): Promise<void>
}

/**
 * `minIntervalMs`: the least time between the starts of two writes; changes meanwhile are coalesced
 * into the next one. Bounds the work of a storm of changes (each write encodes the whole file).
 */
export function createStateFileWriter (file: string, content: () => Iterable<string>, log: Logger, minIntervalMs = 0): StateFileWriter {
  let writing: Promise<void> | undefined
  let isDirty = false
  let lastStartMs = Number.NEGATIVE_INFINITY

  async function drain (): Promise<void> {
    while (isDirty) {
      const waitMs = lastStartMs + minIntervalMs - Date.now()
      if (waitMs > 0) await sleep(waitMs)
      isDirty = false
      lastStartMs = Date.now()
      try {
        await replaceFile(file, content())
      } catch (err) {
        log.error({ err, file }, 'alarm state not saved')
      }
    }
    writing = undefined
  }

  return {
    save () {
      isDirty = true
      writing ??= drain()
    },
    async flush () {
      await writing
    },
  }
}

/**
 * alarms.json from the engine's open alarms, rewritten at most every OPEN_ALARMS_MIN_INTERVAL_MS:
 * in a storm (a power cut raising thousands of alarms) every change would otherwise re-encode the
 * whole, growing list back to back. A crash loses at most that window of changes from the file;
 * the engine raises a still-holding condition again and clears a gone one by its clear rule.
 */
export function createOpenAlarmsWriter (dataDir: string, openEntries: () => OpenAlarm[], log: Logger, cipher?: FieldCipher): StateFileWriter {
  return createStateFileWriter(path.join(dataDir, ALARM_STATE_FILE), function alarmsJson () {
    const entries = openEntries()
    return [JSON.stringify({ version: 2, alarms: cipher === undefined ? entries : entries.map(function seal (entry) { return sealOpenAlarm(entry, cipher) }) })]
  }, log, OPEN_ALARMS_MIN_INTERVAL_MS)
}

/** alarm-devices.jsonl from the engine's device memory, DEVICES_PER_SLICE lines per write. */
export function createDeviceMemoryWriter (dataDir: string, deviceMemory: () => Iterable<DeviceMemory>, log: Logger): StateFileWriter {
  return createStateFileWriter(path.join(dataDir, DEVICE_MEMORY_FILE), function * deviceLines () {
    let slice = ''
    let count = 0
    for (const entry of deviceMemory()) {
      slice += `${JSON.stringify(entry)}\n`
      if (++count === DEVICES_PER_SLICE) {
        // Each yielded slice is awaited as a file write: the event loop runs between slices.
        yield slice
        slice = ''
        count = 0
      }
    }
    if (slice !== '') yield slice
  }, log)
}
