// Enters: a real spool (follower cursor), the exporter, and a stand-in context broker over real HTTP.
// Checks: delivery with ids/types/@context/tenant/token; an outage coalesces a backlog into one update
// with the latest values and does not hold the spool; 207 per-entity refusals are quarantined and 5xx
// ones retried; a 400 batch is halved to isolate the bad entity; owed entities survive a restart.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { kinds } from '../../../devices/index.ts'
import { encodeAlarm, encodeTelemetry } from '../../../broker/influx/line-protocol.ts'
import { createFileQuarantine } from '../../../broker/influx/quarantine-file.ts'
import { createNgsiClient } from '../../../broker/ngsi/client.ts'
import { createExporter, type Exporter } from '../../../broker/ngsi/exporter.ts'
import { openPendingStore } from '../../../broker/ngsi/pending.ts'
import { openSpool, type LocalSpool } from '../../../broker/spool/spool.ts'
import { spoolDefaults } from '../../helpers/default-options.ts'
import { startNgsiLdServer, type NgsiLdServer } from '../../helpers/ngsi-ld-server.ts'
import { eventually } from '../../helpers/wait.ts'

const silent = pino({ level: 'silent' })
const CONTEXT = 'https://smartdatamodels.org/context.jsonld'
let dir: string
let server: NgsiLdServer
let spool: LocalSpool | undefined
let exporter: Exporter | undefined

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'csg-ngsi-'))
  server = await startNgsiLdServer()
})
afterEach(async () => {
  await exporter?.close()
  await spool?.close()
  exporter = undefined
  spool = undefined
  await server.close()
  await rm(dir, { recursive: true, force: true })
})

async function start (): Promise<{ spool: LocalSpool, exporter: Exporter }> {
  spool = await openSpool({ ...spoolDefaults, segmentBytes: 64 * 1024, dir: join(dir, 'spool'), log: silent, followers: ['ngsi-ld'] })
  const pending = await openPendingStore(join(dir, 'pending.json'), silent)
  exporter = createExporter({
    feed: spool.follower('ngsi-ld'),
    pending,
    client: createNgsiClient({ url: server.url, tenant: 'city', token: 'secret-token', context: CONTEXT, timeoutMs: 2000 }),
    quarantine: createFileQuarantine(join(dir, 'quarantine.jsonl')),
    locationOf: (id) => (id === 'lp-1' ? { lat: 52.52, lon: 13.405 } : undefined),
    log: silent,
    batchLines: 1000,
    batchEntities: 50,
    flushIntervalMs: 20,
    retryInitialMs: 20,
    retryMaxMs: 100,
    unauthorizedRetryMs: 100,
    retryAfterMaxMs: 1000,
  })
  exporter.start()
  return { spool, exporter }
}

function lampLine (deviceId: string, tsMs: number, values: Record<string, number | boolean>): string {
  return encodeTelemetry(kinds['lamp-post'], { deviceId, district: 'north' }, { index: 0, tsMs, tsGiven: true, values })
}

const T0 = Date.parse('2026-11-30T10:00:00Z')

describe('NGSI-LD exporter', () => {
  it('upserts one Streetlight per device with tenant, token, @context, location and observedAt', async () => {
    const { spool } = await start()
    await spool.append([lampLine('lp-1', T0, { commandedLevel: 80, supplyVoltage: 231.5, activePower: 42, lampFailure: false })])
    await spool.append([lampLine('lp-2', T0 + 1000, { commandedLevel: 0, supplyVoltage: 230, activePower: 0, doorOpen: true })])
    await eventually(() => server.entities.size, (n) => n === 2, { what: 'two entities' })
    const request = server.requests[0]
    expect(request?.url).toBe('/ngsi-ld/v1/entityOperations/upsert?options=update')
    expect(request?.headers['ngsild-tenant']).toBe('city')
    expect(request?.headers.authorization).toBe('Bearer secret-token')
    expect(request?.headers['content-type']).toBe('application/ld+json')
    const lp1 = server.entities.get('urn:ngsi-ld:Streetlight:lp-1')
    expect(lp1).toMatchObject({
      type: 'Streetlight',
      '@context': CONTEXT,
      status: { type: 'Property', value: 'ok' },
      powerState: { type: 'Property', value: 'low' },
      supplyVoltage: { type: 'Property', value: 231.5, unitCode: 'VLT', observedAt: '2026-11-30T10:00:00.000Z' },
      location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [13.405, 52.52] } },
    })
    expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-2')).toMatchObject({ status: { value: 'columnIssue' }, powerState: { value: 'off' } })
    expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-2')).not.toHaveProperty('location')
  })

  it('coalesces a backlog during an outage into one update with the latest values, and frees the spool meanwhile', async () => {
    server.behave({ mode: 'down' })
    const { spool } = await start()
    for (let i = 0; i < 10_000; i += 100) {
      await spool.append(Array.from({ length: 100 }, (_, j) => lampLine('lp-1', T0 + (i + j) * 1000, { commandedLevel: 100, supplyVoltage: 200 + (i + j) / 100, activePower: i + j })))
    }
    await eventually(() => server.requests.length, (n) => n >= 3, { what: 'retries during the outage' })
    // The exporter's cursor moved on: its backlog is the pending file, not spool segments.
    await spool.commit((await spool.read(100_000))!) // the InfluxDB writer's cursor
    await eventually(() => spool.stats().depthRecords, (n) => n === 0, { what: 'spool drained by both cursors' })
    const pendingFile = JSON.parse(await readFile(join(dir, 'pending.json'), 'utf8')) as { entities: unknown[] }
    expect(pendingFile.entities).toHaveLength(1)
    const failedRequests = server.requests.length
    server.behave({ mode: 'ok' })
    await eventually(() => server.entities.size, (n) => n === 1, { what: 'the entity after the outage' })
    const after = server.requests.slice(failedRequests)
    expect(after).toHaveLength(1)
    expect(after[0]?.entities).toHaveLength(1)
    expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-1')).toMatchObject({
      activePower: { value: 9999, observedAt: new Date(T0 + 9999 * 1000).toISOString() },
      supplyVoltage: { value: 299.99 },
    })
  })

  it('keeps the newest value when an older (backfilled) reading arrives later', async () => {
    server.behave({ mode: 'down' })
    const { spool } = await start()
    await spool.append([lampLine('lp-1', T0 + 60_000, { commandedLevel: 100, supplyVoltage: 230, activePower: 50 })])
    await spool.append([lampLine('lp-1', T0, { commandedLevel: 100, supplyVoltage: 210, activePower: 10, gearTemp: 40 })])
    await eventually(() => server.requests.length, (n) => n >= 1)
    server.behave({ mode: 'ok' })
    await eventually(() => server.entities.size, (n) => n === 1)
    expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-1')).toMatchObject({ activePower: { value: 50 }, supplyVoltage: { value: 230 }, gearTemperature: { value: 40 } })
  })

  it('quarantines entities a 207 refuses with 4xx and retries those failing with 5xx', async () => {
    let failInternally = 2
    server.behave({
      mode: 'partial',
      refuse: (id) => {
        if (id.endsWith(':bad')) return 400
        if (id.endsWith(':flaky') && failInternally > 0) { failInternally--; return 500 }
        return undefined
      },
    })
    const { spool } = await start()
    await spool.append([lampLine('good', T0, { commandedLevel: 1, supplyVoltage: 230, activePower: 5 })])
    await spool.append([lampLine('bad', T0, { commandedLevel: 1, supplyVoltage: 230, activePower: 5 })])
    await spool.append([lampLine('flaky', T0, { commandedLevel: 1, supplyVoltage: 230, activePower: 5 })])
    await eventually(() => server.entities.size, (n) => n === 2, { what: 'good and flaky taken' })
    expect([...server.entities.keys()].sort()).toEqual(['urn:ngsi-ld:Streetlight:flaky', 'urn:ngsi-ld:Streetlight:good'])
    const quarantined = await eventually(async () => (await readFile(join(dir, 'quarantine.jsonl'), 'utf8')).trim().split('\n'), (l) => l.length === 1)
    const entry = JSON.parse(quarantined[0] as string) as { reason: string, line: string }
    expect(entry.reason).toMatch(/^HTTP 400/)
    expect((JSON.parse(entry.line) as { id: string }).id).toBe('urn:ngsi-ld:Streetlight:bad')
    expect(failInternally).toBe(0)
  })

  it('halves a batch refused with 400 until the bad entity is alone', async () => {
    server.behave({ mode: 'bad-batch', isBad: (id) => id.endsWith(':lp-7') })
    spool = await openSpool({ ...spoolDefaults, dir: join(dir, 'spool'), log: silent, followers: ['ngsi-ld'] })
    for (let i = 0; i < 12; i++) await spool.append([lampLine(`lp-${i}`, T0, { commandedLevel: 50, supplyVoltage: 230, activePower: 20 })])
    await spool.close()
    spool = undefined
    await start()
    await eventually(() => server.entities.size, (n) => n === 11, { what: 'all but the bad entity' })
    expect(server.entities.has('urn:ngsi-ld:Streetlight:lp-7')).toBe(false)
    const quarantined = await eventually(async () => (await readFile(join(dir, 'quarantine.jsonl'), 'utf8')).trim().split('\n'), (l) => l.length === 1)
    expect(quarantined[0]).toContain('lp-7')
  })

  it('exports alarm changes as one Alert per alarm, whose source is the device entity', async () => {
    const { spool } = await start()
    const base = { deviceId: 'mh-1', district: 'north', kind: 'manhole', type: 'coverOpen', severity: 'critical', value: 40, threshold: 10, message: 'Cover open.', alarmId: 'a1b2' }
    await spool.append([encodeAlarm({ ...base, state: 'active', change: 'raised', tsMs: T0 })])
    await spool.append([encodeAlarm({ ...base, state: 'cleared', change: 'cleared', clearSec: 120, tsMs: T0 + 120_000 })])
    await eventually(() => server.entities.get('urn:ngsi-ld:Alert:a1b2')?.validTo, (v) => v !== undefined, { what: 'the cleared Alert' })
    expect(server.entities.get('urn:ngsi-ld:Alert:a1b2')).toMatchObject({
      type: 'Alert',
      category: { value: 'security' },
      subCategory: { value: 'hazardOnRoad' },
      severity: { value: 'critical' },
      alertSource: { type: 'Relationship', object: 'urn:ngsi-ld:Device:mh-1' },
      dateIssued: { value: new Date(T0).toISOString() },
      validTo: { value: new Date(T0 + 120_000).toISOString() },
      data: { value: { alarmType: 'coverOpen', state: 'cleared' } },
    })
  })

  it('keeps what is owed across a restart during an outage', async () => {
    server.behave({ mode: 'down' })
    const first = await start()
    await first.spool.append([lampLine('lp-1', T0, { commandedLevel: 100, supplyVoltage: 230, activePower: 77 })])
    await eventually(() => server.requests.length, (n) => n >= 1, { what: 'a failed request' })
    await first.exporter.close()
    await first.spool.close()
    exporter = undefined
    spool = undefined
    const saved = JSON.parse(await readFile(join(dir, 'pending.json'), 'utf8')) as { entities: Array<{ id: string }> }
    expect(saved.entities.map((e) => e.id)).toEqual(['urn:ngsi-ld:Streetlight:lp-1'])
    server.behave({ mode: 'ok' })
    await start()
    await eventually(() => server.entities.get('urn:ngsi-ld:Streetlight:lp-1'), (e) => e !== undefined, { what: 'the entity after restart' })
    expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-1')).toMatchObject({ activePower: { value: 77 } })
  })

  it('gives up on an answer slower than the timeout and sends again', async () => {
    server.behave({ mode: 'slow', delayMs: 3000 })
    const { spool, exporter } = await start()
    await spool.append([lampLine('lp-1', T0, { commandedLevel: 100, supplyVoltage: 230, activePower: 12 })])
    await eventually(() => exporter.state().lastError ?? '', (e) => /no answer within/.test(e), { what: 'a timed-out request' })
    server.behave({ mode: 'ok' })
    await eventually(() => exporter.state(), (s) => s.connected && s.pendingEntities === 0, { what: 'delivered after the slow answers' })
    expect(server.entities.get('urn:ngsi-ld:Streetlight:lp-1')).toMatchObject({ activePower: { value: 12 } })
  })
})
