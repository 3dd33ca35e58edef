// `citygw key rotate` on DATA_DIR: a new current key added to the key file (earlier keys kept, so old
// InfluxDB points still open), then every sealed value in DATA_DIR sealed again with it, all under the
// DATA_DIR lock (no gateway runs meanwhile). Interrupted, everything stays readable: run it again.
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { alarmsFileSchema } from '../alarms/alarm.ts'
import { incidentAcksPath, resealIncidentAckRequests } from '../alarms/incident-ack-requests.ts'
import { resealIncidentsFile } from '../alarms/incident-file.ts'
import { queuedMailSchema } from '../alarms/mail/mail-queue.ts'
import { GatewayError } from '../errors.ts'
import { acquireLockFile, lockHolder } from '../lock-file.ts'
import { replaceFile } from '../replace-file.ts'
import { resealSessionsFile, sessionsPath } from '../sessions/sessions-file.ts'
import { sealedKeyIds } from './data-key.ts'
import { createFieldCipher, type FieldCipher } from './field-cipher.ts'
import { readKeyFile, replaceKeyFile, withNewKey } from './key-file.ts'
import { resealOpenAlarm } from './sealed-alarm.ts'
import { resealSession } from './sealed-session.ts'
import { resealWindow } from './sealed-window.ts'
import { maintenancePath, resealMaintenanceFile } from '../maintenance/maintenance-file.ts'

export interface RotateCounts {
  /** Open alarms rewritten in alarms.json. */
  alarms: number
  /** Open and recently closed incidents rewritten in incidents.json. */
  incidents: number
  /** Pending CLI acknowledgements rewritten in incident-acks.json. */
  incidentAcks: number
  /** Session records rewritten in sessions.json. */
  sessions: number
  /** Maintenance windows rewritten in maintenance.json. */
  maintenance: number
  /** Queued mails rewritten. */
  mails: number
}

export interface RotateOutcome {
  keyFile: string
  previousKeyId: string
  keyId: string
  files: RotateCounts
}

async function readText (file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

async function resealAlarmsFile (dataDir: string, cipher: FieldCipher): Promise<number> {
  const file = path.join(dataDir, 'alarms.json')
  const text = await readText(file)
  if (text === undefined) return 0
  const parsed = alarmsFileSchema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new GatewayError('CSG_ALARM_STATE_INVALID', `${file}: ${parsed.error.issues[0]?.message ?? 'invalid'}`)
  const alarms = parsed.data.alarms.map(function reseal (entry) { return resealOpenAlarm(entry, cipher) })
  await replaceFile(file, JSON.stringify({ version: 2, alarms }))
  return alarms.length
}

async function resealMailQueue (dataDir: string, cipher: FieldCipher): Promise<number> {
  const dir = path.join(dataDir, 'mail-queue')
  const names = await fs.readdir(dir).catch(function none () { return [] as string[] })
  let count = 0
  for (const name of names.filter(function isMail (n) { return n.endsWith('.mail.json') }).sort()) {
    const file = path.join(dir, name)
    const text = await readText(file)
    if (text === undefined) continue
    const mail = queuedMailSchema.parse(JSON.parse(text))
    await replaceFile(file, JSON.stringify({ ...mail, text: cipher.reseal('mail', mail.text) }))
    count++
  }
  return count
}

export interface RotateOptions {
  dataDir: string
  keyFile: string
  /** Runs with the new key after DATA_DIR is done (the cluster's buckets), still under the lock. */
  more?: (cipher: FieldCipher) => Promise<void>
}

export async function rotateDataKey (options: RotateOptions): Promise<RotateOutcome> {
  const { dataDir, keyFile } = options
  const before = await readKeyFile(keyFile)
  if (before === undefined) throw new GatewayError('CSG_DATA_KEY_MISSING', `no data key file at ${keyFile}: create one with \`citygw key create\``)
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 })
  const lockFile = path.join(dataDir, 'gateway.lock')
  const release = await acquireLockFile(lockFile, 0)
  if (release === undefined) {
    throw new GatewayError('CSG_DATA_DIR_LOCKED', `DATA_DIR ${dataDir} is in use by process ${String(await lockHolder(lockFile))}: stop the gateway, then rotate`)
  }
  try {
    // Everything sealed must open before anything is rewritten: a wrong key file changes nothing.
    const old = createFieldCipher(before)
    const lacking = [...await sealedKeyIds(dataDir)].filter(function notHeld ([id]) { return !old.hasKey(id) })
    if (lacking.length > 0) {
      throw new GatewayError('CSG_DATA_KEY_MISSING', `${keyFile} lacks key ${lacking.map(function describe ([id, file]) { return `${id} (${file})` }).join(', ')}: nothing was rotated`)
    }
    const after = withNewKey(before)
    await replaceKeyFile(keyFile, after)
    const cipher = createFieldCipher(after)
    const files: RotateCounts = {
      alarms: await resealAlarmsFile(dataDir, cipher),
      incidents: await resealIncidentsFile(dataDir, cipher),
      incidentAcks: await resealIncidentAckRequests(incidentAcksPath(dataDir), cipher),
      sessions: await resealSessionsFile(sessionsPath(dataDir), function reseal (stored) { return resealSession(stored, cipher) }),
      maintenance: await resealMaintenanceFile(maintenancePath(dataDir), function reseal (stored) { return resealWindow(stored, cipher) }),
      mails: await resealMailQueue(dataDir, cipher),
    }
    await options.more?.(cipher)
    return { keyFile, previousKeyId: before.current, keyId: after.current, files }
  } finally {
    await release()
  }
}
