// The ingest stage on its own: a real spool in a temp dir, a device identity built as
// authenticateClient builds one, and the notices the device would be told, captured.
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { lampPost } from '../../../devices/lamp-post.ts'
import { createMetrics } from '../../../broker/http/metrics.ts'
import { createIngest, type Ingest, type IngestOptions } from '../../../broker/ingest/ingest.ts'
import type { Notice } from '../../../broker/ingest/notices.ts'
import type { ValidReading } from '../../../broker/ingest/validate.ts'
import { createLogThrottle } from '../../../broker/log-throttle.ts'
import type { DeviceIdentity } from '../../../broker/mqtt/authenticate.ts'
import { deviceTopics } from '../../../broker/mqtt/topics.ts'
import { openSpool, type Spool } from '../../../broker/spool/spool.ts'
import { configSchema, MAX_FUTURE_MS, UNKNOWN_FIELD_NOTICE_INTERVAL_MS } from '../../../broker/config.ts'
import { spoolDefaults } from '../../helpers/default-options.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'

const silent = pino({ level: 'silent' })
const config = configSchema.parse({})
const NOW = Date.parse('2024-11-25T16:00:00Z')
const MINUTE = 60_000
const LAMP = { commandedLevel: 80, supplyVoltage: 231.5, activePower: 42 }

function lampDevice (id: string): DeviceIdentity {
  return {
    role: 'device',
    id,
    kind: lampPost,
    district: 'north',
    location: undefined,
    topics: deviceTopics(id),
    log: silent.child({ deviceId: id, kind: lampPost.name }),
  }
}

function json (value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value))
}

describe('createIngest', () => {
  let dir: string
  let spool: Spool
  let notices: Notice[]
  let nowMs: number

  beforeEach(async () => {
    dir = await makeTempDir('csg-ingest-')
    spool = await openSpool({ ...spoolDefaults, dir: join(dir, 'spool'), log: silent })
    notices = []
    nowMs = NOW
  })
  afterEach(async () => {
    await spool.close()
    await removeTempDir(dir)
  })

  function ingestWith (options: Partial<IngestOptions> = {}): Ingest {
    return createIngest({
      spool,
      metrics: createMetrics(),
      log: silent,
      maxMessageBytes: config.MAX_MESSAGE_BYTES,
      maxBatchReadings: config.MAX_BATCH_READINGS,
      backfillMs: config.BACKFILL_DAYS * 24 * 60 * MINUTE,
      maxFutureMs: MAX_FUTURE_MS,
      unknownFieldNoticeIntervalMs: UNKNOWN_FIELD_NOTICE_INTERVAL_MS,
      throttle: createLogThrottle(60_000),
      publishNotice (_device, notice) { notices.push(notice) },
      now () { return nowMs },
      ...options,
    })
  }

  async function spooledLines (): Promise<string[]> {
    const batch = await spool.read(1000, AbortSignal.timeout(1000))
    return [...(batch?.lines ?? [])]
  }

  it('appends the readings of a valid batch, and hands them to onReadings before the append resolves', async () => {
    const seen: { readings: readonly ValidReading[], appendedBefore: number }[] = []
    const ingest = ingestWith({
      onReadings (_device, readings) { seen.push({ readings, appendedBefore: spool.stats().appendedRecords }) },
    })
    await ingest.handleTelemetry(lampDevice('lp-1'), json([{ ...LAMP, seq: 1 }, { ...LAMP, seq: 2 }]))

    expect(seen).toHaveLength(1)
    expect(seen[0]?.appendedBefore).toBe(0)
    expect(seen[0]?.readings.map((r) => r.values.seq)).toEqual([1, 2])
    expect(spool.stats().appendedRecords).toBe(1)
    const lines = await spooledLines()
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(line).toMatch(/device_id=lp-1/)
    // Two readings without ts in one millisecond stay two points.
    expect(new Set(lines.map((line) => line.split(' ').at(-1))).size).toBe(2)
    expect(notices).toEqual([])
  })

  it('stores the valid readings of a partial batch and tells the device which reading was rejected', async () => {
    const ingest = ingestWith()
    await ingest.handleTelemetry(lampDevice('lp-1'), json([LAMP, { ...LAMP, commandedLevel: 'full' }]))

    const lines = await spooledLines()
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/device_id=lp-1/)
    expect(lines[1]).toMatch(/^rejected,device_id=lp-1,reason=invalid_reading /)
    expect(notices).toHaveLength(1)
    const notice = notices[0]
    expect(notice).toMatchObject({ status: 'partial', accepted: 1, rejected: 1, receivedAt: new Date(NOW).toISOString() })
    expect(notice?.readings).toHaveLength(1)
    expect(notice?.readings?.[0]).toMatchObject({ index: 1, reason: 'invalid_reading' })
    expect(notice?.readings?.[0]?.issues.map((issue) => issue.field)).toEqual(['commandedLevel'])
  })

  it('keeps an unparseable message as a rejected point and tells the device why', async () => {
    const ingest = ingestWith()
    await ingest.handleTelemetry(lampDevice('lp-1'), Buffer.from('{"commandedLevel": 80,'))

    const lines = await spooledLines()
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^rejected,device_id=lp-1,reason=invalid_json payload="\{\\"commandedLevel\\": 80,",issues="/)
    expect(notices).toHaveLength(1)
    expect(notices[0]).toMatchObject({ status: 'rejected', reason: 'invalid_json', accepted: 0, rejected: 1, receivedAt: new Date(NOW).toISOString() })
    expect(notices[0]?.message).toMatch(/^payload is not valid JSON/)
    expect(notices[0]?.issues).toHaveLength(1)
  })

  it('refuses a payload above maxMessageBytes without parsing it', async () => {
    const onReadings: unknown[] = []
    const ingest = ingestWith({ maxMessageBytes: 64, onReadings (_device, readings) { onReadings.push(readings) } })
    // Valid JSON, but too large: not read at all.
    const payload = json({ ...LAMP, note: 'x'.repeat(64) })
    await ingest.handleTelemetry(lampDevice('lp-1'), payload)
    await ingest.handleTelemetry(lampDevice('lp-2'), Buffer.from('x'.repeat(65)))

    const lines = await spooledLines()
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatch(/^rejected,device_id=lp-1,reason=too_large /)
    expect(lines[1]).toMatch(/^rejected,device_id=lp-2,reason=too_large /)
    expect(onReadings).toEqual([])
    expect(notices.map((n) => [n.status, n.reason, n.message])).toEqual([
      ['rejected', 'too_large', `payload of ${payload.length} bytes exceeds the limit of 64 bytes`],
      ['rejected', 'too_large', 'payload of 65 bytes exceeds the limit of 64 bytes'],
    ])
  })

  it('stores readings with an unknown field and names the field to the device once per hour', async () => {
    const ingest = ingestWith()
    const device = lampDevice('lp-1')
    const withColour = json({ ...LAMP, colour: 'amber' })

    await ingest.handleTelemetry(device, withColour)
    nowMs = NOW + 59 * MINUTE
    await ingest.handleTelemetry(device, withColour)
    await ingest.handleTelemetry(device, json({ ...LAMP, colour: 'red', hue: 3 }))
    nowMs = NOW + 60 * MINUTE
    await ingest.handleTelemetry(device, withColour)

    expect(await spooledLines()).toHaveLength(4)
    expect(notices.map((n) => [n.status, n.unknownFields])).toEqual([
      ['unknown_fields', ['colour']],
      ['unknown_fields', ['hue']],
      ['unknown_fields', ['colour']],
    ])
    expect(notices[0]?.message).toBe('stored; unknown field(s) ignored: colour')
  })
})
