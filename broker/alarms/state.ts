// Alarm state on disk: DATA_DIR/alarms.json holds open alarms and each device's last-seen times, so
// a restart neither loses open alarms nor raises them again. Written atomically after every change
// (coalesced: at most one write in flight, one more queued).
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { GatewayError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { engineSnapshotSchema, type EngineSnapshot } from './alarm.ts'

export const ALARM_STATE_FILE = 'alarms.json'

export async function readAlarmState (dataDir: string): Promise<EngineSnapshot | undefined> {
  const file = path.join(dataDir, ALARM_STATE_FILE)
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const parsed = engineSnapshotSchema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new GatewayError('CSG_ALARM_STATE_INVALID', `${file}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  return parsed.data
}

export interface AlarmStateWriter {
  /** Schedules a write of the snapshot the getter returns at write time. */
  save(): void
  /** Resolves once everything scheduled is on disk. */
  flush(): Promise<void>
}

export function createAlarmStateWriter (dataDir: string, snapshot: () => EngineSnapshot, log: Logger): AlarmStateWriter {
  const file = path.join(dataDir, ALARM_STATE_FILE)
  let writing: Promise<void> | undefined
  let isDirty = false

  async function writeOnce (): Promise<void> {
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`
    const handle = await fs.open(temp, 'w', 0o600)
    try {
      await handle.writeFile(JSON.stringify(snapshot()))
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(temp, file)
    const dir = await fs.open(dataDir, 'r')
    try {
      await dir.sync() // the rename itself must survive a power cut
    } finally {
      await dir.close()
    }
  }

  async function drain (): Promise<void> {
    while (isDirty) {
      isDirty = false
      try {
        await writeOnce()
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
