// Sealed fields in DATA_DIR state files: clear values written before encryption are read as they
// are and sealed on the next write; sealed ones open back; a key the cipher lacks is refused; the
// start-up scan finds the key ids in use.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { OpenAlarm } from '../../../broker/alarms/alarm.ts'
import { ALARM_STATE_FILE, createOpenAlarmsWriter, readAlarmState } from '../../../broker/alarms/state.ts'
import { openDataKey, sealedKeyIds } from '../../../broker/crypto/data-key.ts'
import { createFieldCipher, keyIdOf } from '../../../broker/crypto/field-cipher.ts'
import { createKeyFile, newKeyFile } from '../../../broker/crypto/key-file.ts'
import { isGatewayError } from '../../../broker/errors.ts'
import type { SessionRecord } from '../../../broker/sessions/record.ts'
import { readSessionsFile, sessionsPath, updateSessionsFile } from '../../../broker/sessions/sessions-file.ts'

const log = pino({ level: 'silent' })
const keys = newKeyFile()
const cipher = createFieldCipher(keys)
const now = new Date().toISOString()
const acked: OpenAlarm = {
  alarm: { id: 'a-1', type: 'coverOpen', severity: 'critical', state: 'acknowledged', deviceId: 'mh-1', kind: 'manhole', district: 'north', value: 120, threshold: 10, message: 'Cover open', raisedAt: now, updatedAt: now, ackedBy: 'crew-north', ackedAt: now, ackNote: 'on our way' },
  captured: {},
}
const session: SessionRecord = {
  id: 'AAAAAAAAAAAAAAAA', tokenHash: 'a'.repeat(64), name: 'crew-north', role: 'crew', fingerprint: 'b'.repeat(16),
  createdAt: 1, expiresAt: Date.now() + 3_600_000, lastUsedAt: 1, userAgent: 'test', device: false,
}

let dataDir: string
beforeEach(async () => { dataDir = await mkdtemp(path.join(os.tmpdir(), 'sealed-state-')) })
afterEach(async () => { await rm(dataDir, { recursive: true, force: true }) })

describe('sealed alarm state', () => {
  it('reads a clear alarms.json from before encryption and writes it back sealed', async () => {
    await writeFile(path.join(dataDir, ALARM_STATE_FILE), JSON.stringify({ version: 2, alarms: [acked] }))
    const state = await readAlarmState(dataDir, cipher)
    expect(state?.alarms[0]?.alarm).toMatchObject({ ackedBy: 'crew-north', ackNote: 'on our way' })
    const writer = createOpenAlarmsWriter(dataDir, () => state!.alarms, log, cipher)
    writer.save()
    await writer.flush()
    const text = await readFile(path.join(dataDir, ALARM_STATE_FILE), 'utf8')
    expect(text).not.toContain('crew-north')
    expect(text).not.toContain('on our way')
    const stored = (JSON.parse(text) as { alarms: OpenAlarm[] }).alarms[0]!.alarm
    expect(keyIdOf(stored.ackedBy!)).toBe(keys.current)
    expect((await readAlarmState(dataDir, cipher))?.alarms[0]?.alarm).toEqual(acked.alarm)
    expect([...(await sealedKeyIds(dataDir)).keys()]).toEqual([keys.current])
  })

  it('refuses alarm state sealed with a key the cipher lacks', async () => {
    const writer = createOpenAlarmsWriter(dataDir, () => [acked], log, createFieldCipher(newKeyFile()))
    writer.save()
    await writer.flush()
    const err = await readAlarmState(dataDir, cipher).then(() => undefined, (e: unknown) => e)
    expect(isGatewayError(err, 'CSG_DATA_KEY_MISSING')).toBe(true)
  })
})

describe('sealed sessions file', () => {
  it('reads clear names from before encryption and seals them on the next write', async () => {
    const file = sessionsPath(dataDir)
    await writeFile(file, JSON.stringify({ version: 1, sessions: [session] }), { mode: 0o600 })
    expect(await readSessionsFile(file, log, cipher)).toEqual([session])
    await updateSessionsFile(file, (records) => records, log, cipher)
    const text = await readFile(file, 'utf8')
    expect(text).not.toContain('crew-north')
    expect(await readSessionsFile(file, log, cipher)).toEqual([session])
    // Without the key a sealed name is not silently dropped: the read stops.
    const err = await readSessionsFile(file, log).then(() => undefined, (e: unknown) => e)
    expect(isGatewayError(err, 'CSG_DATA_KEY_MISSING')).toBe(true)
  })
})

describe('opening the data key at start', () => {
  it('makes DATA_DIR/data.key on a first start, and refuses to make one over sealed data', async () => {
    const first = await openDataKey({ dataDir, keyFile: undefined, isCluster: false, log })
    const made = JSON.parse(await readFile(path.join(dataDir, 'data.key'), 'utf8')) as { current: string }
    expect(made.current).toBe(first.currentKeyId)
    await rm(path.join(dataDir, 'data.key'))
    await updateSessionsFile(sessionsPath(dataDir), () => [session], log, first)
    const err = await openDataKey({ dataDir, keyFile: undefined, isCluster: false, log }).then(() => undefined, (e: unknown) => e)
    expect(isGatewayError(err, 'CSG_DATA_KEY_MISSING')).toBe(true)
    expect((err as Error).message).toContain(first.currentKeyId)
  })

  it('refuses a key file lacking a key in use, a missing DATA_KEY_FILE, and cluster mode without DATA_KEY_FILE', async () => {
    await updateSessionsFile(sessionsPath(dataDir), () => [session], log, cipher)
    const other = path.join(dataDir, 'other.key')
    await createKeyFile(other, newKeyFile())
    for (const options of [{ keyFile: other, isCluster: false }, { keyFile: path.join(dataDir, 'none.key'), isCluster: false }, { keyFile: undefined, isCluster: true }]) {
      const err = await openDataKey({ dataDir, log, ...options }).then(() => undefined, (e: unknown) => e)
      expect(isGatewayError(err, 'CSG_DATA_KEY_MISSING'), JSON.stringify(options)).toBe(true)
    }
  })
})
