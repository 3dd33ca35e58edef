// Sealed incidents in DATA_DIR: incidents.json written before encryption reads as it is and is written
// back sealed; incident-acks.json keeps the note and who acknowledges sealed, opens them for its
// readers, keeps requests it cannot open, and is re-sealed by rotate; the start-up scan finds both.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { incidentAcksPath, readIncidentAckRequests, resealIncidentAckRequests, updateIncidentAckRequests, type IncidentAckRequest } from '../../../broker/alarms/incident-ack-requests.ts'
import { createIncidentsWriter, incidentsPath, readIncidentsFile, resealIncidentsFile, type SavedIncidents } from '../../../broker/alarms/incident-file.ts'
import type { Incident } from '../../../broker/alarms/incident-record.ts'
import { sealedKeyIds } from '../../../broker/crypto/data-key.ts'
import { createFieldCipher, keyIdOf } from '../../../broker/crypto/field-cipher.ts'
import { newKeyFile, withNewKey } from '../../../broker/crypto/key-file.ts'

const log = pino({ level: 'silent' })
const keys = newKeyFile()
const cipher = createFieldCipher(keys)
const now = new Date().toISOString()
const incident: Incident = {
  id: 'i-1', type: 'supplyLoss', group: 'feeder-3', district: 'north', severity: 'major',
  members: [{ deviceId: 'lp-1', alarmId: 'a-1' }], openedAt: now, updatedAt: now, state: 'acknowledged', ackedBy: 'crew-north',
}
const clearFile: SavedIncidents = { version: 1, open: [{ incident, cleared: [] }], closed: [{ ...incident, id: 'i-0', state: 'closed', closedAt: now }] }
const request: IncidentAckRequest = { id: '0123456789abcdef', incidentId: 'i-1', by: 'crew-north', note: 'Jan de Vries reset the feeder', requestedAt: Date.now() }

let dataDir: string
beforeEach(async () => { dataDir = await mkdtemp(path.join(os.tmpdir(), 'sealed-incidents-')) })
afterEach(async () => { await rm(dataDir, { recursive: true, force: true }) })

describe('sealed incidents.json', () => {
  it('reads a clear file from before encryption and writes it back sealed', async () => {
    await writeFile(incidentsPath(dataDir), JSON.stringify(clearFile))
    const saved = await readIncidentsFile(incidentsPath(dataDir), cipher)
    expect(saved).toEqual(clearFile)
    const writer = createIncidentsWriter(dataDir, () => saved!, log, cipher)
    writer.save()
    await writer.flush()
    const text = await readFile(incidentsPath(dataDir), 'utf8')
    expect(text).not.toContain('crew-north')
    const stored = JSON.parse(text) as SavedIncidents
    expect(keyIdOf(stored.open[0]!.incident.ackedBy!)).toBe(keys.current)
    expect(keyIdOf(stored.closed[0]!.ackedBy!)).toBe(keys.current)
    expect(await readIncidentsFile(incidentsPath(dataDir), cipher)).toEqual(clearFile)
    expect([...(await sealedKeyIds(dataDir)).keys()]).toEqual([keys.current])
    await expect(readIncidentsFile(incidentsPath(dataDir))).rejects.toMatchObject({ code: 'CSG_DATA_KEY_MISSING' })
  })

  it('rotate re-seals every ackedBy with the new key', async () => {
    await writeFile(incidentsPath(dataDir), JSON.stringify(clearFile))
    const rotated = createFieldCipher(withNewKey(keys))
    expect(await resealIncidentsFile(dataDir, rotated)).toBe(2)
    const text = await readFile(incidentsPath(dataDir), 'utf8')
    expect(text).not.toContain('crew-north')
    expect(text).toContain(`enc1:${rotated.currentKeyId}:`)
    expect(await readIncidentsFile(incidentsPath(dataDir), rotated)).toEqual(clearFile)
  })
})

describe('sealed incident-acks.json', () => {
  it('keeps the note and who acknowledges sealed, and opens them for readers', async () => {
    const file = incidentAcksPath(dataDir)
    await updateIncidentAckRequests(file, cipher, (requests) => [...requests, request])
    const text = await readFile(file, 'utf8')
    expect(text).not.toContain('crew-north')
    expect(text).not.toContain('Jan de Vries')
    expect([...(await sealedKeyIds(dataDir)).values()]).toEqual([file])
    expect(await readIncidentAckRequests(file, cipher)).toEqual([request])
    // The gateway's answer carries the incident: its ackedBy is sealed too.
    await updateIncidentAckRequests(file, cipher, (requests) => requests.map((r) => ({ ...r, outcome: 'acknowledged' as const, incident })))
    expect(await readFile(file, 'utf8')).not.toContain('crew-north')
    expect(await readIncidentAckRequests(file, cipher)).toEqual([{ ...request, outcome: 'acknowledged', incident }])
  })

  it('reads clear requests, and keeps requests it cannot open when changing the file', async () => {
    const file = incidentAcksPath(dataDir)
    await writeFile(file, JSON.stringify({ version: 1, requests: [request] }))
    expect(await readIncidentAckRequests(file, cipher)).toEqual([request])
    await updateIncidentAckRequests(file, cipher, (requests) => requests)
    const other = { ...request, id: 'fedcba9876543210' }
    // Without the key the sealed request is left out for reading, and kept when another is added.
    expect(await readIncidentAckRequests(file, undefined)).toEqual([])
    await updateIncidentAckRequests(file, undefined, (requests) => [...requests, other])
    expect((await readIncidentAckRequests(file, cipher)).map((r) => r.id).sort()).toEqual([other.id, request.id].sort())
  })

  it('rotate re-seals every request with the new key', async () => {
    const file = incidentAcksPath(dataDir)
    await updateIncidentAckRequests(file, cipher, () => [request])
    const rotated = createFieldCipher(withNewKey(keys))
    expect(await resealIncidentAckRequests(file, rotated)).toBe(1)
    const text = await readFile(file, 'utf8')
    expect(text).toContain(`enc1:${rotated.currentKeyId}:`)
    expect(text).not.toContain(`enc1:${keys.current}:`)
    expect(await readIncidentAckRequests(file, rotated)).toEqual([request])
  })
})
