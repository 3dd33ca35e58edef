// The API's answer types (broker/api/types.ts): what FromSchema makes of the response schemas,
// spelled out, so a schema change shows up here as a type change; the console uses exactly these;
// and fastify's serialiser keeps every property the types have and drops any other.
import Fastify from 'fastify'
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest'
import type * as Console from '../../../console/src/api-types.ts'
import type { AlarmRecord } from '../../../broker/alarms/alarm.ts'
import { alarmHistorySchema, alarmListSchema, alarmTimelineSchema, deviceDetailSchema, deviceListSchema, seriesSchema, sharedSchemas } from '../../../broker/api/schemas.ts'
import type { Alarm, AlarmHistory, AlarmList, AlarmTimeline, Device, DeviceDetail, DeviceList, ErrorBody, HistoryEntry, Principal, Series, TimelineEvent } from '../../../broker/api/types.ts'

interface Location { lat: number; lon: number }
interface ExpectedDevice {
  id: string; kind: string; district: string; location?: Location; group?: string; online: boolean; lastSeen: string | null
  latest: { [field: string]: { value: number | boolean; ts: string } }; openAlarms?: number
}

type Severity = 'critical' | 'major' | 'minor' | 'warning'
type State = 'active' | 'acknowledged' | 'cleared'
interface ExpectedHistoryEntry {
  id: string; type: string; severity: Severity; deviceId: string; kind: string; district: string; location?: Location
  message: string; state: State; raisedAt: string; ackedAt?: string; ackedBy?: string; ackNote?: string; clearedAt?: string
  timeToAckSec?: number; timeToClearSec?: number; escalations: number; ackEscalations?: number
}
interface ExpectedTimelineEvent {
  change: 'raised' | 'escalated' | 'overdue' | 'acknowledged' | 'cleared' | 'flapping' | 'unflapping'; at: string; severity: Severity; state: State; message: string
  value?: number; threshold?: number; by?: string; note?: string; escalation?: number
}

interface ExpectedDeviceDetail extends ExpectedDevice {
  fields: { name: string; label: string; type: 'integer' | 'float' | 'boolean'; unit?: string; description?: string }[]
}

describe('API answer types', () => {
  it('are the response schemas, with no room for properties the serialiser would drop', () => {
    expectTypeOf<Alarm>().toEqualTypeOf<AlarmRecord>()
    expectTypeOf<Principal>().toEqualTypeOf<{ name: string; role: 'crew' | 'operator'; districts: string[] | null; trustedDevice: boolean; expiresAt?: string }>()
    expectTypeOf<Device>().toEqualTypeOf<ExpectedDevice>()
    expectTypeOf<DeviceDetail>().toEqualTypeOf<ExpectedDeviceDetail>()
    expectTypeOf<Series>().toEqualTypeOf<{ deviceId: string; field: string; minutes: number; bucketSec: number; points: { t: number; v: number }[] }>()
    expectTypeOf<ErrorBody>().toEqualTypeOf<{ statusCode: number; error: string; message: string }>()
    expectTypeOf<AlarmList>().toEqualTypeOf<{ alarms: AlarmRecord[] }>()
    expectTypeOf<DeviceList>().toEqualTypeOf<{ devices: Device[] }>()
    expectTypeOf<HistoryEntry>().toEqualTypeOf<ExpectedHistoryEntry>()
    expectTypeOf<TimelineEvent>().toEqualTypeOf<ExpectedTimelineEvent>()
    expectTypeOf<AlarmHistory>().toEqualTypeOf<{ alarms: HistoryEntry[]; partial?: true; warning?: string }>()
    expectTypeOf<AlarmTimeline>().toEqualTypeOf<{ alarm: HistoryEntry; events: TimelineEvent[]; partial?: true; warning?: string }>()
  })

  it('are the ones the console uses', () => {
    expectTypeOf<Console.Alarm>().toEqualTypeOf<Alarm>()
    expectTypeOf<Console.Principal>().toEqualTypeOf<Principal>()
    expectTypeOf<Console.Device>().toEqualTypeOf<Device>()
    expectTypeOf<Console.DeviceDetail>().toEqualTypeOf<DeviceDetail>()
    expectTypeOf<Console.Series>().toEqualTypeOf<Series>()
    expectTypeOf<Console.Severity>().toEqualTypeOf<'critical' | 'major' | 'minor' | 'warning'>()
    expectTypeOf<Console.FieldInfo>().toEqualTypeOf<DeviceDetail['fields'][number]>()
    expectTypeOf<Console.AlarmList>().toEqualTypeOf<AlarmList>()
    expectTypeOf<Console.DeviceList>().toEqualTypeOf<DeviceList>()
  })
})

describe('fastify serialising a value of each type', () => {
  const alarm: Alarm = {
    id: 'a1', type: 'pressureDrop', severity: 'major', state: 'acknowledged', deviceId: 'pipe-1', kind: 'water-pipe',
    district: 'north', location: { lat: 52.5, lon: 13.4 }, value: 1.2, threshold: 2, message: 'pressure dropped',
    raisedAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:01:00.000Z', ackedBy: 'crew-north', ackNote: 'on our way',
  }
  const device: Device = {
    id: 'pipe-1', kind: 'water-pipe', district: 'north', location: { lat: 52.5, lon: 13.4 }, online: true,
    lastSeen: '2025-01-01T00:00:00.000Z', latest: { pressureBar: { value: 1.2, ts: '2025-01-01T00:00:00.000Z' }, leak: { value: false, ts: '2025-01-01T00:00:00.000Z' } },
    openAlarms: 1,
  }
  const detail: DeviceDetail = { ...device, lastSeen: null, fields: [{ name: 'pressureBar', label: 'Pressure', type: 'float', unit: 'bar' }, { name: 'leak', label: 'Leak', type: 'boolean' }] }
  const series: Series = { deviceId: 'pipe-1', field: 'pressureBar', minutes: 60, bucketSec: 15, points: [{ t: 1735689600000, v: 1.2 }] }
  const alarmList: AlarmList = { alarms: [alarm] }
  const deviceList: DeviceList = { devices: [device] }
  const entry: HistoryEntry = {
    id: 'a1', type: 'lowPressure', severity: 'critical', deviceId: 'pipe-1', kind: 'water-pipe', district: 'north', location: { lat: 52.5, lon: 13.4 },
    message: 'back to 3 bar', state: 'cleared', raisedAt: '2025-01-01T00:00:00.000Z', ackedAt: '2025-01-01T00:01:30.000Z', ackedBy: 'crew-north',
    ackNote: 'on our way', clearedAt: '2025-01-01T01:00:00.000Z', timeToAckSec: 90, timeToClearSec: 3600, escalations: 1,
  }
  const events: TimelineEvent[] = [
    { change: 'raised', at: '2025-01-01T00:00:00.000Z', severity: 'minor', state: 'active', message: 'low', value: 1.4, threshold: 1.5 },
    { change: 'acknowledged', at: '2025-01-01T00:01:30.000Z', severity: 'minor', state: 'acknowledged', message: '', by: 'crew-north', note: 'on our way' },
  ]
  const alarmHistory: AlarmHistory = { alarms: [entry], partial: true, warning: 'InfluxDB did not answer' }
  const alarmTimeline: AlarmTimeline = { alarm: entry, events }
  const samples = [
    { path: '/alarms', schema: alarmListSchema, value: alarmList },
    { path: '/devices', schema: deviceListSchema, value: deviceList },
    { path: '/detail', schema: deviceDetailSchema, value: detail },
    { path: '/series', schema: seriesSchema, value: series },
    { path: '/history', schema: alarmHistorySchema, value: alarmHistory },
    { path: '/timeline', schema: alarmTimelineSchema, value: alarmTimeline },
  ]

  const app = Fastify()
  for (const schema of sharedSchemas) app.addSchema(schema)
  for (const { path, schema, value } of samples) {
    // A shared schema is answered by reference, as the routes do.
    const response = '$id' in schema ? { $ref: `${schema.$id}#` } : schema
    app.get(path, { schema: { response: { 200: response } } }, function answer () { return value })
    app.get(`${path}-extra`, { schema: { response: { 200: response } } }, function answerWithExtra () { return { ...value, extra: 'not in the schema' } })
  }
  afterAll(async () => { await app.close() })

  it('keeps every property the type has', async () => {
    for (const { path, value } of samples) {
      const res = await app.inject({ method: 'GET', url: path })
      expect(res.statusCode, path).toBe(200)
      expect(res.json(), path).toEqual(value)
    }
  })

  it('drops a property the schema does not list (so the types may leave it out)', async () => {
    for (const { path, value } of samples) {
      const res = await app.inject({ method: 'GET', url: `${path}-extra` })
      expect(res.json(), path).toEqual(value)
    }
  })
})
