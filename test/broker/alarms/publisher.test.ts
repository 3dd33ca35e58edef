// Delivery order of the alarm publisher: the changes of one alarm go out in order (a crew never
// sees a clear before its raise), while an alarm whose publish is slow holds up no other alarm.
// The real spool takes the `alarms` points; the broker side is scripted so one publish can stall.
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { AlarmEvent, AlarmRecord } from '../../../broker/alarms/alarm.ts'
import { alarmPointOf, createAlarmPublisher } from '../../../broker/alarms/publisher.ts'
import { openSpool, type Spool } from '../../../broker/spool/spool.ts'
import type { BrokerOut } from '../../../broker/mqtt/broker-out.ts'
import { makeTempDir, removeTempDir } from '../../helpers/server-process.ts'
import { spoolDefaults } from '../../helpers/default-options.ts'

const silent = pino({ level: 'silent' })
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => { for (const cleanup of cleanups.splice(0).reverse()) await cleanup() })

async function tempSpool (): Promise<Spool> {
  const dir = await makeTempDir('csg-publisher-')
  const spool = await openSpool({ ...spoolDefaults, dir: join(dir, 'spool'), log: silent })
  cleanups.push(async () => { await spool.close(); await removeTempDir(dir) })
  return spool
}

function alarm (deviceId: string, state: AlarmRecord['state']): AlarmRecord {
  const at = new Date().toISOString()
  return {
    id: `id-${deviceId}`, type: 'coverOpen', severity: 'major', state, deviceId, kind: 'manhole', district: 'north',
    value: 90, threshold: 15, message: 'm', raisedAt: at, updatedAt: at, ...(state === 'cleared' ? { clearedAt: at } : {}),
  }
}

/** Records what went out, in order; publishes for `stalled` devices wait until released. */
function scriptedOut (stalled: Set<string>): BrokerOut & { sent: string[], release(): void } {
  const waiting: (() => void)[] = []
  const sent: string[] = []
  return {
    sent,
    async publish (topic, payload) {
      const { deviceId, state } = JSON.parse(payload.toString()) as AlarmRecord
      if (stalled.has(deviceId)) await new Promise<void>((resolve) => { waiting.push(resolve) })
      sent.push(`${deviceId}:${state}:${topic.split('/').at(-1) ?? ''}`)
    },
    async removeRetained () { /* nothing retained here */ },
    release () {
      stalled.clear()
      for (const resolve of waiting.splice(0)) resolve()
    },
  }
}

describe('alarm publisher', () => {
  it('keeps the order of one alarm, and a stalled alarm does not hold up another', async () => {
    const out = scriptedOut(new Set(['mh-slow']))
    const delivered: AlarmEvent[] = []
    const publisher = createAlarmPublisher({ out, spool: await tempSpool(), log: silent, onDelivered: (e) => delivered.push(e) })
    publisher.deliver([
      { change: 'raised', alarm: alarm('mh-slow', 'active') },
      { change: 'raised', alarm: alarm('mh-fast', 'active') },
    ])
    publisher.deliver([
      { change: 'cleared', alarm: alarm('mh-slow', 'cleared') },
      { change: 'cleared', alarm: alarm('mh-fast', 'cleared') },
    ])
    await expect.poll(() => out.sent).toEqual(['mh-fast:active:coverOpen', 'mh-fast:cleared:coverOpen'])
    out.release()
    await publisher.flush()
    expect(out.sent).toEqual([
      'mh-fast:active:coverOpen', 'mh-fast:cleared:coverOpen', 'mh-slow:active:coverOpen', 'mh-slow:cleared:coverOpen',
    ])
    expect(delivered.map((e) => `${e.alarm.deviceId}:${e.change}`)).toEqual(['mh-fast:raised', 'mh-fast:cleared', 'mh-slow:raised', 'mh-slow:cleared'])
  })

  it('goes on with an alarm after one of its deliveries failed', async () => {
    const out = scriptedOut(new Set())
    let calls = 0
    const publisher = createAlarmPublisher({
      out,
      spool: await tempSpool(),
      log: silent,
      onDelivered () { if (++calls === 1) throw new Error('listener broke') },
    })
    publisher.deliver([{ change: 'raised', alarm: alarm('mh-1', 'active') }])
    publisher.deliver([{ change: 'cleared', alarm: alarm('mh-1', 'cleared') }])
    await publisher.flush()
    expect(out.sent).toEqual(['mh-1:active:coverOpen', 'mh-1:cleared:coverOpen'])
  })

  it('records each change durably whether or not its delivery ever completes', async () => {
    const out = scriptedOut(new Set(['mh-1', 'mh-2']))
    const spool = await tempSpool()
    const publisher = createAlarmPublisher({ out, spool, log: silent })
    publisher.deliver([{ change: 'raised', alarm: alarm('mh-1', 'active') }, { change: 'raised', alarm: alarm('mh-2', 'active') }])
    publisher.deliver([{ change: 'cleared', alarm: alarm('mh-1', 'cleared') }])
    // Every delivery hangs; the three points are on disk all the same.
    await expect.poll(() => spool.stats().depthRecords).toBe(3)
    expect(out.sent).toEqual([])
    out.release()
    await publisher.flush()
    expect(out.sent).toEqual(['mh-1:active:coverOpen', 'mh-2:active:coverOpen', 'mh-1:cleared:coverOpen'])
  })

  it('relays another node\'s change without a point or webhook, and drops a superseded one for crews only', async () => {
    const out = scriptedOut(new Set())
    const spool = await tempSpool()
    const hooked: string[] = []
    const delivered: string[] = []
    const webhooks = { send: (e: AlarmEvent) => { hooked.push(`${e.alarm.deviceId}:${e.change}`) }, close: async () => {} }
    const publisher = createAlarmPublisher({ out, spool, log: silent, webhooks, onDelivered: (e, isOwn) => delivered.push(`${e.alarm.deviceId}:${e.change}:${isOwn ? 'own' : 'peer'}`) })
    publisher.deliver([{ change: 'raised', alarm: alarm('mh-peer', 'active') }], { isOwn: false })
    publisher.deliver([{ change: 'raised', alarm: alarm('mh-own', 'active') }])
    publisher.deliver([{ change: 'cleared', alarm: alarm('mh-late', 'cleared') }], { isSuperseded: true })
    await publisher.flush()
    expect(out.sent).toEqual(['mh-peer:active:coverOpen', 'mh-own:active:coverOpen'])
    expect(delivered).toEqual(['mh-peer:raised:peer', 'mh-own:raised:own'])
    expect(hooked.sort()).toEqual(['mh-late:cleared', 'mh-own:raised'])
    expect(spool.stats().depthRecords).toBe(2) // mh-own and mh-late: the node that made a change records it
  })

  it('restores a retained alarm ahead of a later change of the same alarm', async () => {
    const out = scriptedOut(new Set(['mh-1']))
    const publisher = createAlarmPublisher({ out, spool: await tempSpool(), log: silent })
    const restoring = publisher.restoreRetained([alarm('mh-1', 'active')])
    publisher.deliver([{ change: 'cleared', alarm: alarm('mh-1', 'cleared') }], { isOwn: false })
    out.release()
    await restoring
    await publisher.flush()
    expect(out.sent).toEqual(['mh-1:active:coverOpen', 'mh-1:cleared:coverOpen'])
  })
})

describe('the alarms point of a change', () => {
  const raisedAt = '2026-01-01T10:00:00.000Z'
  const record: AlarmRecord = { ...alarm('mh-1', 'active'), raisedAt, updatedAt: raisedAt }

  it('carries the alarm id and the change, and on an acknowledgement who, the note and the seconds since the raise', () => {
    expect(alarmPointOf({ change: 'raised', alarm: record }, 1)).toMatchObject({ alarmId: 'id-mh-1', change: 'raised', state: 'active', tsMs: 1 })
    expect(alarmPointOf({ change: 'raised', alarm: record }, 1)).not.toHaveProperty('ackSec')
    const acked: AlarmRecord = { ...record, state: 'acknowledged', ackedBy: 'crew-a', ackNote: 'coming', ackedAt: '2026-01-01T10:01:30.250Z', updatedAt: '2026-01-01T10:01:30.250Z' }
    expect(alarmPointOf({ change: 'acknowledged', alarm: acked }, 2)).toMatchObject({ change: 'acknowledged', ackedBy: 'crew-a', ackNote: 'coming', ackSec: 90.25 })
    const cleared: AlarmRecord = { ...acked, state: 'cleared', clearedAt: '2026-01-01T11:00:00.000Z', updatedAt: '2026-01-01T11:00:00.000Z' }
    const point = alarmPointOf({ change: 'cleared', alarm: cleared }, 3)
    expect(point).toMatchObject({ change: 'cleared', clearSec: 3600 })
    expect(point.ackSec).toBeUndefined()
  })
})
